//! The simulator's data and the rules of every change to it: creating and editing contacts
//! and companies (blank values, the dropped zero, the e-mail that finds or merges a contact),
//! Do Not Contact entries, company links, and the modification dates each change moves.
//!
//! Both the HTTP routes and the test handle ("as a user") go through here, so the rules live
//! in one place. No I/O, no locking: the caller holds the lock and passes the time.

use super::fields::{Catalog, Incoming, Object, php_numeric_zero, read_value};
use super::query::{Cell, Row, SearchTerm, TermKind, like};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A stored contact. Field values absent from `fields` are NULL.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: u64,
    pub fields: BTreeMap<String, Json>,
    pub date_added: DateTime<Utc>,
    /// NULL until the first edit on Mautic before 2025.
    pub date_modified: Option<DateTime<Utc>>,
    /// Set when the contact first holds an identifying value (name, e-mail, company).
    pub date_identified: Option<DateTime<Utc>>,
    pub dnc: Vec<Dnc>,
    pub companies: Vec<Link>,
}

/// A Do Not Contact entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Dnc {
    pub id: u64,
    pub channel: String,
    pub reason: u8,
    pub comments: String,
    pub date_added: DateTime<Utc>,
}

/// A contact's link to a company.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub company: u64,
    pub primary: bool,
    pub date_associated: DateTime<Utc>,
}

/// A stored company.
#[derive(Debug, Clone, PartialEq)]
pub struct Company {
    pub id: u64,
    pub fields: BTreeMap<String, Json>,
    pub date_added: DateTime<Utc>,
    pub date_modified: Option<DateTime<Utc>>,
}

/// How a write treats the fields it does not name and the blanks it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `POST .../new`: blanks and zeros ignored.
    Post,
    /// `PATCH .../edit`: blanks and zeros ignored, unsent fields kept.
    Patch,
    /// `PUT .../edit`: unsent fields cleared, blanks applied. The connector never uses it.
    Put,
    /// A user in Mautic's interface (the test handle): what is given is stored, blanks clear.
    User,
}

/// A refused item: its HTTP status and message, as Mautic puts them in `errors`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    pub code: u16,
    pub message: String,
}

impl ItemError {
    pub fn not_found() -> Self {
        ItemError {
            code: 404,
            message: "Item was not found.".into(),
        }
    }
}

/// A write's field values, read and checked, ready to apply.
struct Prepared {
    /// `None` clears the field.
    set: Vec<(String, Option<Json>)>,
}

impl Prepared {
    fn value(&self, alias: &str) -> Option<&Json> {
        self.set
            .iter()
            .rev()
            .find(|(k, _)| k == alias)
            .and_then(|(_, v)| v.as_ref())
    }
}

/// Everything the simulator holds.
#[derive(Debug, Clone)]
pub struct State {
    pub catalog: Catalog,
    pub contacts: BTreeMap<u64, Contact>,
    pub companies: BTreeMap<u64, Company>,
    next_contact: u64,
    next_company: u64,
    next_dnc: u64,
    /// Contacts created through the API, per lower-cased e-mail.
    pub created_per_email: BTreeMap<String, u64>,
    /// Contacts deleted by an e-mail merge, in order.
    pub deleted: Vec<u64>,
    /// Mautic before 2025: a new record's `date_modified` stays NULL until its first edit.
    pub null_date_modified_on_create: bool,
    /// Contacts by e-mail as Mautic compares them (trimmed, lower-cased): MySQL's index on
    /// the column. Kept current by [`State::change_contact`].
    emails: HashMap<String, BTreeSet<u64>>,
    /// Companies by name as Mautic compares them. Kept current by [`State::change_company`].
    company_names: HashMap<String, BTreeSet<u64>>,
}

/// A contact's e-mail as Mautic compares it, when it has one.
fn email_key(c: &Contact) -> Option<String> {
    c.fields
        .get("email")
        .and_then(Json::as_str)
        .map(|e| e.trim().to_lowercase())
        .filter(|e| !e.is_empty())
}

/// A company's name as Mautic compares it.
fn name_key(c: &Company) -> Option<String> {
    c.fields
        .get("companyname")
        .and_then(Json::as_str)
        .map(|n| n.trim().to_lowercase())
}

/// Moves `id` from one key of an index to another.
fn reindex(
    index: &mut HashMap<String, BTreeSet<u64>>,
    id: u64,
    from: Option<String>,
    to: Option<String>,
) {
    if from == to {
        return;
    }
    if let Some(k) = from
        && let Some(set) = index.get_mut(&k)
    {
        set.remove(&id);
        if set.is_empty() {
            index.remove(&k);
        }
    }
    if let Some(k) = to {
        index.entry(k).or_default().insert(id);
    }
}

/// The state with a version that changes at every mutable access, so that what is derived
/// from it (the ids a list query selects) can be cached and never served stale: any `&mut`
/// use of the state goes through [`DerefMut`](std::ops::DerefMut), which moves the version.
#[derive(Debug)]
pub struct Tracked {
    state: State,
    version: u64,
}

/// Versions are unique across every state of the process (a restored snapshot included).
static VERSIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_version() -> u64 {
    VERSIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Tracked {
    pub fn new(state: State) -> Self {
        Tracked {
            state,
            version: next_version(),
        }
    }

    /// Changes whenever the state may have changed.
    pub fn version(&self) -> u64 {
        self.version
    }
}

impl std::ops::Deref for Tracked {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl std::ops::DerefMut for Tracked {
    fn deref_mut(&mut self) -> &mut State {
        self.version = next_version();
        &mut self.state
    }
}

/// `!empty($v)` in PHP, for flags such as `overwriteWithBlank` and `force`.
fn php_truthy(v: Option<&Json>) -> bool {
    match v {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64() != Some(0.0),
        Some(Json::String(s)) => !(s.is_empty() || s == "0"),
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(o)) => !o.is_empty(),
    }
}

impl State {
    pub fn new(null_date_modified_on_create: bool) -> Self {
        State {
            catalog: Catalog::default(),
            contacts: BTreeMap::new(),
            companies: BTreeMap::new(),
            next_contact: 1,
            next_company: 1,
            next_dnc: 1,
            created_per_email: BTreeMap::new(),
            deleted: Vec::new(),
            null_date_modified_on_create,
            emails: HashMap::new(),
            company_names: HashMap::new(),
        }
    }

    /// Changes a contact through `f`, keeping the e-mail index current; `None` when there is
    /// no such contact.
    fn change_contact<R>(&mut self, id: u64, f: impl FnOnce(&mut Contact) -> R) -> Option<R> {
        let c = self.contacts.get_mut(&id)?;
        let before = email_key(c);
        let r = f(c);
        let after = email_key(c);
        reindex(&mut self.emails, id, before, after);
        Some(r)
    }

    /// Changes a company through `f`, keeping the name index current.
    fn change_company<R>(&mut self, id: u64, f: impl FnOnce(&mut Company) -> R) -> Option<R> {
        let c = self.companies.get_mut(&id)?;
        let before = name_key(c);
        let r = f(c);
        let after = name_key(c);
        reindex(&mut self.company_names, id, before, after);
        Some(r)
    }

    /// Reads an item's values. Unknown aliases are ignored, as Mautic's API forms allow extra
    /// fields (`allow_extra_fields`) and `setFieldValues` only walks the known ones.
    fn prepare(
        &self,
        object: Object,
        params: &Map<String, Json>,
        method: Method,
    ) -> Result<Prepared, ItemError> {
        let overwrite = matches!(method, Method::Put | Method::User)
            || php_truthy(params.get("overwriteWithBlank"));
        let mut set = Vec::new();
        let mut errors = Vec::new();
        for (alias, raw) in params {
            let Some(def) = self.catalog.get(object, alias) else {
                continue;
            };
            if matches!(method, Method::Post | Method::Patch)
                && def.field_type != "boolean"
                && php_numeric_zero(raw)
            {
                continue;
            }
            match read_value(def, raw) {
                Incoming::Blank if overwrite => set.push((alias.clone(), None)),
                Incoming::Blank | Incoming::Ignore => {}
                Incoming::Set(v) => set.push((alias.clone(), Some(v))),
                // The interface would have refused it; a test storing it on purpose (an
                // imported bad e-mail) gets the raw value.
                Incoming::Invalid(_) if method == Method::User => {
                    set.push((alias.clone(), Some(raw.clone())));
                }
                Incoming::Invalid(m) => errors.push(m),
            }
        }
        if !errors.is_empty() {
            return Err(ItemError {
                code: 400,
                message: errors.join(" "),
            });
        }
        if method == Method::Put {
            for def in self.catalog.of(object) {
                if !params.contains_key(&def.alias) && def.alias != "points" {
                    set.push((def.alias.clone(), None));
                }
            }
        }
        Ok(Prepared { set })
    }

    fn apply(fields: &mut BTreeMap<String, Json>, prepared: &Prepared) {
        for (alias, v) in &prepared.set {
            match v {
                Some(v) => {
                    fields.insert(alias.clone(), v.clone());
                }
                None => {
                    fields.remove(alias);
                }
            }
        }
    }

    /// The contact holding this e-mail (case-insensitive, as MySQL compares), the oldest first.
    pub fn contact_by_email(&self, email: &str, except: Option<u64>) -> Option<u64> {
        let wanted = email.trim().to_lowercase();
        if wanted.is_empty() {
            return None;
        }
        self.emails
            .get(&wanted)?
            .iter()
            .copied()
            .find(|id| Some(*id) != except)
    }

    /// The contacts holding this e-mail (case-insensitive), in id order.
    pub fn contacts_by_email(&self, email: &str) -> Vec<u64> {
        self.emails
            .get(&email.trim().to_lowercase())
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
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
        self.change_contact(id, |c| {
            Self::apply(&mut c.fields, &prepared);
            Self::identify(c, now);
        });
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
        self.change_contact(id, |c| {
            Self::apply(&mut c.fields, &prepared);
            c.date_modified = Some(now);
            Self::identify(c, now);
        })
        .is_some()
    }

    /// `POST /api/contacts/new` and each item of `batch/new`: the contact holding the e-mail
    /// is updated (200), else one is created (201).
    pub fn api_new_contact(
        &mut self,
        params: &Map<String, Json>,
        now: DateTime<Utc>,
    ) -> Result<(u16, u64), ItemError> {
        let prepared = self.prepare(Object::Contact, params, Method::Post)?;
        let email = prepared
            .value("email")
            .and_then(Json::as_str)
            .map(str::to_owned);
        if let Some(existing) = email
            .as_deref()
            .and_then(|e| self.contact_by_email(e, None))
        {
            self.change_contact(existing, |c| {
                Self::apply(&mut c.fields, &prepared);
                c.date_modified = Some(now);
                Self::identify(c, now);
            });
            return Ok((200, existing));
        }
        let id = self.new_contact(now);
        self.change_contact(id, |c| {
            Self::apply(&mut c.fields, &prepared);
            Self::identify(c, now);
        });
        if let Some(e) = email {
            *self
                .created_per_email
                .entry(e.trim().to_lowercase())
                .or_default() += 1;
        }
        Ok((201, id))
    }

    /// `PATCH|PUT /api/contacts/{id}/edit` and each item of `batch/edit`. An e-mail another
    /// contact holds makes Mautic merge that contact into this one and delete it
    /// (`LeadApiController::preSaveEntity`, `ContactMerger`).
    pub fn api_edit_contact(
        &mut self,
        id: u64,
        params: &Map<String, Json>,
        method: Method,
        now: DateTime<Utc>,
    ) -> Result<(u16, u64), ItemError> {
        if !self.contacts.contains_key(&id) {
            return match method {
                Method::Put => self.api_new_contact(params, now).map(|(_, id)| (201, id)),
                _ => Err(ItemError::not_found()),
            };
        }
        let prepared = self.prepare(Object::Contact, params, method)?;
        if let Some(other) = prepared
            .value("email")
            .and_then(Json::as_str)
            .and_then(|e| self.contact_by_email(e, Some(id)))
        {
            self.merge_contacts(id, other, now);
        }
        self.change_contact(id, |c| {
            Self::apply(&mut c.fields, &prepared);
            c.date_modified = Some(now);
            Self::identify(c, now);
        });
        Ok((200, id))
    }

    /// `ContactMerger::merge($winner, $loser)`: each field takes the newest contact's value,
    /// or the other's when the newest has none; points add up; the loser's companies join the
    /// winner's (which keeps its primary); the loser is deleted.
    fn merge_contacts(&mut self, winner: u64, loser: u64, now: DateTime<Utc>) {
        let Some(l) = self.contacts.remove(&loser) else {
            return;
        };
        reindex(&mut self.emails, loser, email_key(&l), None);
        let w = self.contacts.get_mut(&winner).expect("winner exists");
        let winner_email = email_key(w);
        let w_date = w.date_modified.unwrap_or(w.date_added);
        let l_date = l.date_modified.unwrap_or(l.date_added);
        let loser_newer = l_date > w_date;
        let aliases: Vec<String> = w.fields.keys().chain(l.fields.keys()).cloned().collect();
        let mut merged = BTreeMap::new();
        for alias in aliases {
            if alias == "points" {
                continue;
            }
            let (newest, oldest) = if loser_newer {
                (l.fields.get(&alias), w.fields.get(&alias))
            } else {
                (w.fields.get(&alias), l.fields.get(&alias))
            };
            let blank = |v: Option<&Json>| match v {
                None | Some(Json::Null) => true,
                Some(Json::String(s)) => s.is_empty(),
                _ => false,
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
        let mut has_primary = w.companies.iter().any(|k| k.primary);
        for link in l.companies {
            if w.companies.iter().any(|k| k.company == link.company) {
                continue;
            }
            let primary = !has_primary && link.primary;
            has_primary |= primary;
            w.companies.push(Link { primary, ..link });
        }
        w.date_modified = Some(now);
        let merged_email = email_key(w);
        reindex(&mut self.emails, winner, winner_email, merged_email);
        self.deleted.push(loser);
    }

    /// Adds a Do Not Contact entry. An existing entry of the channel takes the new reason,
    /// unless the contact unsubscribed (reason 1), which nothing replaces. Moves
    /// `date_modified` (the contact is saved).
    pub fn add_dnc(
        &mut self,
        id: u64,
        channel: &str,
        reason: u8,
        comments: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ItemError> {
        let dnc_id = self.next_dnc;
        let c = self
            .contacts
            .get_mut(&id)
            .ok_or_else(ItemError::not_found)?;
        match c.dnc.iter_mut().find(|d| d.channel == channel) {
            None => {
                c.dnc.push(Dnc {
                    id: dnc_id,
                    channel: channel.to_owned(),
                    reason,
                    comments: comments.to_owned(),
                    date_added: now,
                });
                self.next_dnc += 1;
            }
            Some(d) if d.reason != 1 && d.reason != reason => {
                d.reason = reason;
                d.comments = comments.to_owned();
                d.date_added = now;
            }
            Some(_) => {}
        }
        c.date_modified = Some(now);
        Ok(())
    }

    /// Removes the channel's entry; whether there was one. Moves `date_modified`.
    pub fn remove_dnc(
        &mut self,
        id: u64,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, ItemError> {
        let c = self
            .contacts
            .get_mut(&id)
            .ok_or_else(ItemError::not_found)?;
        let before = c.dnc.len();
        c.dnc.retain(|d| d.channel != channel);
        c.date_modified = Some(now);
        Ok(c.dnc.len() != before)
    }

    /// Links a contact to a company. `primary: None` is the API's rule: primary when the
    /// contact has no primary company yet. A primary company's name goes into the contact's
    /// `company` field, which saves the contact.
    pub fn link(
        &mut self,
        contact: u64,
        company: u64,
        primary: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<(), ItemError> {
        let name = self
            .companies
            .get(&company)
            .ok_or_else(ItemError::not_found)?
            .fields
            .get("companyname")
            .cloned();
        let c = self
            .contacts
            .get_mut(&contact)
            .ok_or_else(ItemError::not_found)?;
        let primary = primary.unwrap_or_else(|| !c.companies.iter().any(|l| l.primary));
        match c.companies.iter().position(|l| l.company == company) {
            Some(_) if !primary => return Ok(()),
            Some(i) if c.companies[i].primary => return Ok(()),
            Some(_) => {}
            None => c.companies.push(Link {
                company,
                primary: false,
                date_associated: now,
            }),
        }
        if primary {
            for l in &mut c.companies {
                l.primary = l.company == company;
            }
            match name {
                Some(n) => c.fields.insert("company".into(), n),
                None => c.fields.remove("company"),
            };
        }
        c.date_modified = Some(now);
        Ok(())
    }

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

    pub fn user_add_company(&mut self, params: &Map<String, Json>, now: DateTime<Utc>) -> u64 {
        let prepared = self
            .prepare(Object::Company, params, Method::User)
            .expect("user writes are not validated");
        let id = self.new_company(now);
        self.change_company(id, |c| Self::apply(&mut c.fields, &prepared));
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
        self.change_company(id, |c| {
            Self::apply(&mut c.fields, &prepared);
            c.date_modified = Some(now);
        })
        .is_some()
    }

    /// The company with this name (case-insensitive), the oldest first.
    pub fn company_by_name(&self, name: &str) -> Option<u64> {
        self.company_names
            .get(&name.trim().to_lowercase())?
            .first()
            .copied()
    }

    /// `POST /api/companies/new` and each item of `batch/new`: the company with the same name
    /// is updated (200) unless `force` is set, else one is created (201); a new company needs
    /// a name.
    pub fn api_new_company(
        &mut self,
        params: &Map<String, Json>,
        now: DateTime<Utc>,
    ) -> Result<(u16, u64), ItemError> {
        let prepared = self.prepare(Object::Company, params, Method::Post)?;
        let name = prepared
            .value("companyname")
            .and_then(Json::as_str)
            .map(str::to_owned);
        if !php_truthy(params.get("force"))
            && let Some(existing) = name.as_deref().and_then(|n| self.company_by_name(n))
        {
            self.change_company(existing, |c| {
                Self::apply(&mut c.fields, &prepared);
                c.date_modified = Some(now);
            });
            return Ok((200, existing));
        }
        if name.is_none() {
            return Err(ItemError {
                code: 400,
                message: "companyname: A value is required.".into(),
            });
        }
        let id = self.new_company(now);
        self.change_company(id, |c| Self::apply(&mut c.fields, &prepared));
        Ok((201, id))
    }

    pub fn api_edit_company(
        &mut self,
        id: u64,
        params: &Map<String, Json>,
        method: Method,
        now: DateTime<Utc>,
    ) -> Result<(u16, u64), ItemError> {
        if !self.companies.contains_key(&id) {
            return match method {
                Method::Put => self.api_new_company(params, now).map(|(_, id)| (201, id)),
                _ => Err(ItemError::not_found()),
            };
        }
        let prepared = self.prepare(Object::Company, params, method)?;
        self.change_company(id, |c| {
            Self::apply(&mut c.fields, &prepared);
            c.date_modified = Some(now);
        });
        Ok((200, id))
    }
}

/// The columns every table has besides its fields.
const META_COLUMNS: [&str; 3] = ["id", "date_added", "date_modified"];

/// Whether `col` is a column of the object's table.
pub fn known_column(catalog: &Catalog, object: Object, col: &str) -> bool {
    META_COLUMNS.contains(&col)
        || (object == Object::Contact && col == "date_identified")
        || catalog.get(object, col).is_some()
}

fn field_cell(catalog: &Catalog, object: Object, alias: &str, v: Option<&Json>) -> Option<Cell> {
    let def = catalog.get(object, alias)?;
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Some(Cell::Null);
    };
    let text = match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(match def.field_type.as_str() {
        "number" => Cell::Num(v.as_f64().or_else(|| text.parse().ok()).unwrap_or(0.0)),
        "boolean" => Cell::Int(v.as_i64().unwrap_or(0)),
        "date" | "datetime" => super::query::parse_sql_time(&text)
            .map(Cell::Time)
            .unwrap_or(Cell::Text(text)),
        _ => Cell::Text(text),
    })
}

fn time_cell(t: Option<DateTime<Utc>>) -> Cell {
    t.map(Cell::Time).unwrap_or(Cell::Null)
}

/// A contact as `where`, `orderBy` and `search` see it.
pub struct ContactRow<'a> {
    pub contact: &'a Contact,
    pub catalog: &'a Catalog,
}

impl Row for ContactRow<'_> {
    fn cell(&self, column: &str) -> Option<Cell> {
        let c = self.contact;
        match column {
            "id" => Some(Cell::Int(c.id as i64)),
            "date_added" => Some(Cell::Time(c.date_added)),
            "date_modified" => Some(time_cell(c.date_modified)),
            "date_identified" => Some(time_cell(c.date_identified)),
            alias => field_cell(self.catalog, Object::Contact, alias, c.fields.get(alias)),
        }
    }

    fn matches_term(&self, term: &SearchTerm) -> bool {
        let f = |a: &str| {
            self.contact
                .fields
                .get(a)
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned()
        };
        match &term.kind {
            TermKind::Anonymous => self.contact.date_identified.is_none(),
            TermKind::Email(p) => like(&f("email"), p),
            TermKind::Ids(ids) => ids.contains(&self.contact.id),
            TermKind::Name(p) => {
                let p = format!("%{p}%");
                like(&f("firstname"), &p) || like(&f("lastname"), &p)
            }
            TermKind::Text(p) => {
                let p = format!("%{p}%");
                ["firstname", "lastname", "email", "company", "city"]
                    .iter()
                    .any(|a| like(&f(a), &p))
            }
        }
    }
}

/// A company as `where`, `orderBy` and `search` see it.
pub struct CompanyRow<'a> {
    pub company: &'a Company,
    pub catalog: &'a Catalog,
}

impl Row for CompanyRow<'_> {
    fn cell(&self, column: &str) -> Option<Cell> {
        let c = self.company;
        match column {
            "id" => Some(Cell::Int(c.id as i64)),
            "date_added" => Some(Cell::Time(c.date_added)),
            "date_modified" => Some(time_cell(c.date_modified)),
            alias => field_cell(self.catalog, Object::Company, alias, c.fields.get(alias)),
        }
    }

    fn matches_term(&self, term: &SearchTerm) -> bool {
        let f = |a: &str| {
            self.company
                .fields
                .get(a)
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned()
        };
        match &term.kind {
            TermKind::Anonymous => false,
            TermKind::Email(p) => like(&f("companyemail"), p),
            TermKind::Ids(ids) => ids.contains(&self.company.id),
            TermKind::Name(p) | TermKind::Text(p) => {
                let p = format!("%{p}%");
                ["companyname", "companyemail", "companycity"]
                    .iter()
                    .any(|a| like(&f(a), &p))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }

    fn t(s: &str) -> DateTime<Utc> {
        super::super::query::parse_sql_time(s).unwrap()
    }

    #[test]
    fn blanks_and_zeros_follow_mautic() {
        let mut s = State::new(false);
        let now = t("2024-05-01 10:00:00");
        let (code, id) = s
            .api_new_contact(
                &params(json!({"email": "a@b.fr", "city": "Lyon", "attribution": 5, "nope": 1})),
                now,
            )
            .unwrap();
        assert_eq!(code, 201);
        s.api_edit_contact(
            id,
            &params(json!({"city": "", "attribution": 0})),
            Method::Patch,
            now,
        )
        .unwrap();
        let c = &s.contacts[&id];
        assert_eq!(c.fields["city"], json!("Lyon"), "blank ignored");
        assert_eq!(c.fields["attribution"], json!(5), "zero dropped");
        assert!(!c.fields.contains_key("nope"), "unknown alias ignored");
        s.api_edit_contact(
            id,
            &params(json!({"city": "", "overwriteWithBlank": true})),
            Method::Patch,
            now,
        )
        .unwrap();
        assert!(!s.contacts[&id].fields.contains_key("city"));
        s.api_edit_contact(id, &params(json!({"firstname": "Jo"})), Method::Put, now)
            .unwrap();
        assert!(
            !s.contacts[&id].fields.contains_key("email"),
            "PUT clears what it does not send"
        );
    }

    #[test]
    fn new_with_a_known_email_updates() {
        let mut s = State::new(true);
        let now = t("2024-05-01 10:00:00");
        let (c1, a) = s
            .api_new_contact(&params(json!({"email": "A@b.fr"})), now)
            .unwrap();
        assert_eq!(
            s.contacts[&a].date_modified, None,
            "pre-2025: NULL on create"
        );
        let (c2, b) = s
            .api_new_contact(&params(json!({"email": "a@B.fr ", "city": "Nice"})), now)
            .unwrap();
        assert_eq!((c1, c2), (201, 200));
        assert_eq!(a, b);
        assert_eq!(s.contacts.len(), 1);
        assert_eq!(s.created_per_email["a@b.fr"], 1);
        assert_eq!(s.contacts[&a].date_modified, Some(now));
    }

    #[test]
    fn email_collision_merges_into_the_edited_contact() {
        let mut s = State::new(false);
        let old = t("2024-01-01 00:00:00");
        let now = t("2024-05-01 10:00:00");
        let (_, a) = s
            .api_new_contact(&params(json!({"email": "a@x.fr", "firstname": "A"})), old)
            .unwrap();
        let (_, b) = s
            .api_new_contact(
                &params(json!({"email": "b@x.fr", "city": "Lyon", "firstname": "B"})),
                now,
            )
            .unwrap();
        s.api_edit_contact(a, &params(json!({"email": "B@x.fr"})), Method::Patch, now)
            .unwrap();
        assert!(!s.contacts.contains_key(&b));
        assert_eq!(s.deleted, vec![b]);
        let w = &s.contacts[&a];
        assert_eq!(w.fields["city"], json!("Lyon"));
        assert_eq!(w.fields["firstname"], json!("B"), "the newest value wins");
        assert_eq!(w.fields["email"], json!("B@x.fr"));
    }

    /// The indexes answer what a scan of every record would.
    #[test]
    fn the_email_and_name_indexes_follow_every_change() {
        let mut s = State::new(false);
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
            .api_new_contact(&params(json!({"email": "c@x.fr"})), now)
            .unwrap();
        s.user_edit_contact(a, &params(json!({"email": "d@x.fr"})), now);
        s.api_edit_contact(c, &params(json!({"email": "D@x.fr"})), Method::Patch, now)
            .unwrap();
        s.api_edit_contact(b, &params(json!({"email": ""})), Method::Put, now)
            .unwrap();
        s.user_edit_contact(b, &params(json!({"email": "c@x.fr"})), now);
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
        s.api_edit_company(
            k1,
            &params(json!({"companyname": "bolt "})),
            Method::Patch,
            now,
        )
        .unwrap();
        assert_eq!(s.company_by_name("BOLT"), Some(k1.min(k2)));
        assert_eq!(s.company_by_name("acme"), None);
        let (code, k) = s
            .api_new_company(&params(json!({"companyname": "Bolt"})), now)
            .unwrap();
        assert_eq!((code, k), (200, k1));
    }

    #[test]
    fn unsubscribe_is_never_replaced() {
        let mut s = State::new(false);
        let now = t("2024-05-01 10:00:00");
        let id = s.user_add_contact(&params(json!({"email": "a@b.fr"})), now);
        s.add_dnc(id, "email", 1, "", now).unwrap();
        s.add_dnc(id, "email", 2, "", now).unwrap();
        assert_eq!(s.contacts[&id].dnc[0].reason, 1);
        let id2 = s.user_add_contact(&params(json!({"email": "c@b.fr"})), now);
        s.add_dnc(id2, "email", 3, "", now).unwrap();
        s.add_dnc(id2, "email", 2, "", now).unwrap();
        assert_eq!(s.contacts[&id2].dnc[0].reason, 2);
        assert_eq!(s.contacts[&id2].dnc.len(), 1);
    }

    #[test]
    fn first_company_is_primary_and_named_on_the_contact() {
        let mut s = State::new(false);
        let now = t("2024-05-01 10:00:00");
        let c = s.user_add_contact(&params(json!({"email": "a@b.fr"})), now);
        let k1 = s.user_add_company(&params(json!({"companyname": "Acme"})), now);
        let k2 = s.user_add_company(&params(json!({"companyname": "Bolt"})), now);
        s.link(c, k1, None, now).unwrap();
        s.link(c, k2, None, now).unwrap();
        let contact = &s.contacts[&c];
        assert_eq!(contact.fields["company"], json!("Acme"));
        assert!(contact.companies[0].primary && !contact.companies[1].primary);
        assert_eq!(s.link(c, 99, None, now), Err(ItemError::not_found()));
    }
}
