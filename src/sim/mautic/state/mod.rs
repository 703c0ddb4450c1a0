//! The simulator's data and the rules of every change to it, as Mautic's code applies them.
//! Both the HTTP routes and the test handle ("as a user") go through here, so each rule
//! lives in one place. No I/O, no locking: the caller holds the lock and passes the time.
//!
//! - this file: the records, the unique-value indexes, how a request's values are read and
//!   applied (blanks, zeros, `overwriteWithBlank`, `PUT`), the unique-field validator;
//! - [`contacts`]: creating, editing and merging contacts;
//! - [`companies`]: creating and editing companies, a contact's links to them, and the company
//!   a contact's `company` text names;
//! - [`dnc`]: Do Not Contact entries;
//! - [`rows`]: how `where`, `orderBy` and `search` see a record.

mod companies;
mod contacts;
mod dnc;
mod rows;

pub use rows::{CompanyRow, ContactRow, known_column};

use super::fields::{Catalog, Incoming, Object, php_numeric_zero, read_value};
use super::profile::{MauticProfile, UniqueOperator};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A stored contact. Field values absent from `fields` are NULL.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: u64,
    pub fields: BTreeMap<String, Json>,
    pub date_added: DateTime<Utc>,
    /// NULL until the first edit on Mautic 5 (`FormModel::setTimestamps` returns early for a
    /// new entity).
    pub date_modified: Option<DateTime<Utc>>,
    /// Set when the contact first holds an identifying value (name, e-mail, company).
    pub date_identified: Option<DateTime<Utc>>,
    pub dnc: Vec<Dnc>,
    pub companies: Vec<Link>,
    /// Its tags, by name.
    pub tags: BTreeSet<String>,
}

/// A Do Not Contact entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Dnc {
    pub id: u64,
    pub channel: String,
    /// 1 unsubscribed, 2 bounced, 3 manual (`DoNotContact` constants); stored as given.
    pub reason: i64,
    pub comments: String,
    pub date_added: DateTime<Utc>,
}

/// A contact's link to a company (`companies_leads`).
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
    /// `POST .../new`: the form is submitted with `clearMissing`; blanks are ignored unless
    /// `overwriteWithBlank` (then the fields not sent are cleared too).
    Post,
    /// `PATCH .../edit` and the existing records of a `batch/new`: unsent fields kept, blanks
    /// ignored unless `overwriteWithBlank`.
    Patch,
    /// `PUT .../edit`: unsent fields cleared, blanks applied. The connector never uses it.
    Put,
    /// A user in Mautic's interface (the test handle): what is given is stored, blanks clear.
    User,
}

/// A refused item: its HTTP status, message and the fields it names, as Mautic puts them
/// in `errors` (`FormErrorMessagesTrait`: `"alias: message"` and `details: {alias: [message]}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    pub code: u16,
    pub message: String,
    /// `details`: by field alias, the form's messages (`{"email": ["..."]}`); `[]` or a list
    /// of messages for errors that are not about a field.
    pub details: Json,
    /// A batch's not-found and access errors are `{"message","code","type":"api"}`
    /// (`FetchCommonApiController::setBatchError`), not the form error shape.
    pub batch_api_error: bool,
}

impl ItemError {
    pub fn not_found() -> Self {
        ItemError {
            code: 404,
            message: "Item was not found.".into(),
            details: Json::Array(Vec::new()),
            batch_api_error: true,
        }
    }

    pub fn plain(code: u16, message: impl Into<String>) -> Self {
        ItemError {
            code,
            message: message.into(),
            details: Json::Array(Vec::new()),
            batch_api_error: false,
        }
    }

    /// A form error: each `alias: message` pair in `details`, joined in `message`.
    pub fn form(code: u16, errors: Vec<(String, String)>) -> Self {
        let message = errors
            .iter()
            .map(|(a, m)| format!("{a}: {m}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut details: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (alias, m) in errors {
            details.entry(alias).or_default().push(m);
        }
        ItemError {
            code,
            message,
            details: serde_json::json!(details),
            batch_api_error: false,
        }
    }

    /// 422 "This field must be unique." (`UniqueCustomFieldValidator`, message
    /// `mautic.lead.field.unique.is_used`).
    fn not_unique(alias: &str) -> Self {
        Self::form(
            422,
            vec![(alias.to_owned(), "This field must be unique.".into())],
        )
    }
}

/// A write's field values, read and checked, ready to apply.
#[derive(Debug, Default)]
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

    /// Whether the write names the field (to set or to clear).
    fn names(&self, alias: &str) -> bool {
        self.set.iter().any(|(k, _)| k == alias)
    }
}

/// A unique identifier value as MySQL compares it (`utf8mb4_unicode_ci`: case-insensitive;
/// values are trimmed when stored, `CustomFieldEntityTrait::addUpdatedField`).
fn unique_key(v: &Json) -> Option<String> {
    let text = match v {
        Json::Null => return None,
        Json::String(s) => s.trim().to_lowercase(),
        other => other.to_string(),
    };
    (!text.is_empty()).then_some(text)
}

/// Records by (unique field alias, value as compared): MySQL's indexes on those columns.
#[derive(Debug, Clone, Default)]
struct UniqueIndex {
    map: HashMap<(String, String), BTreeSet<u64>>,
}

impl UniqueIndex {
    fn keys(unique: &[String], fields: &BTreeMap<String, Json>) -> Vec<(String, String)> {
        unique
            .iter()
            .filter_map(|a| fields.get(a).and_then(unique_key).map(|k| (a.clone(), k)))
            .collect()
    }

    fn update(&mut self, id: u64, before: Vec<(String, String)>, after: Vec<(String, String)>) {
        if before == after {
            return;
        }
        for k in before {
            if let Some(set) = self.map.get_mut(&k) {
                set.remove(&id);
                if set.is_empty() {
                    self.map.remove(&k);
                }
            }
        }
        for k in after {
            self.map.entry(k).or_default().insert(id);
        }
    }

    fn holders(&self, alias: &str, v: &Json) -> BTreeSet<u64> {
        unique_key(v)
            .and_then(|k| self.map.get(&(alias.to_owned(), k)).cloned())
            .unwrap_or_default()
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
pub(crate) fn php_truthy(v: Option<&Json>) -> bool {
    match v {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64() != Some(0.0),
        Some(Json::String(s)) => !(s.is_empty() || s == "0"),
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(o)) => !o.is_empty(),
    }
}

/// Everything the simulator holds.
#[derive(Debug, Clone)]
pub struct State {
    pub catalog: Catalog,
    pub profile: MauticProfile,
    /// `contact_unique_identifiers_operator`.
    pub contact_operator: UniqueOperator,
    /// `company_unique_identifiers_operator`.
    pub company_operator: UniqueOperator,
    pub contacts: BTreeMap<u64, Contact>,
    pub companies: BTreeMap<u64, Company>,
    next_contact: u64,
    next_company: u64,
    next_dnc: u64,
    /// Contacts created through the API, per lower-cased e-mail.
    pub created_per_email: BTreeMap<String, u64>,
    /// Companies created through the API or by a contact's `company` text, per lower-cased
    /// name: more than 1 is a duplicate.
    pub created_per_company_name: BTreeMap<String, u64>,
    /// Contacts deleted by a merge, in order.
    pub deleted: Vec<u64>,
    /// `contact_merge_records`: a merged-away contact's id and the contact it went into.
    pub merged: BTreeMap<u64, u64>,
    /// A new record's `date_modified` stays NULL until its first edit.
    pub null_date_modified_on_create: bool,
    /// Tags by name, with their ids (`lead_tags`).
    pub tag_ids: BTreeMap<String, u64>,
    contact_index: UniqueIndex,
    company_index: UniqueIndex,
}

impl State {
    pub fn new(profile: MauticProfile, null_date_modified_on_create: bool) -> Self {
        State {
            catalog: Catalog::default(),
            profile,
            contact_operator: UniqueOperator::Or,
            company_operator: UniqueOperator::Or,
            contacts: BTreeMap::new(),
            companies: BTreeMap::new(),
            next_contact: 1,
            next_company: 1,
            next_dnc: 1,
            created_per_email: BTreeMap::new(),
            created_per_company_name: BTreeMap::new(),
            deleted: Vec::new(),
            merged: BTreeMap::new(),
            null_date_modified_on_create,
            tag_ids: BTreeMap::new(),
            contact_index: UniqueIndex::default(),
            company_index: UniqueIndex::default(),
        }
    }

    fn unique_aliases(&self, object: Object) -> Vec<String> {
        self.catalog
            .unique_fields(object)
            .into_iter()
            .map(|f| f.alias.clone())
            .collect()
    }

    /// Rebuilds an object's unique-value index (after a field's unique flag changed).
    fn reindex_all(&mut self, object: Object) {
        let unique = self.unique_aliases(object);
        let mut index = UniqueIndex::default();
        match object {
            Object::Contact => {
                for c in self.contacts.values() {
                    index.update(c.id, Vec::new(), UniqueIndex::keys(&unique, &c.fields));
                }
                self.contact_index = index;
            }
            Object::Company => {
                for c in self.companies.values() {
                    index.update(c.id, Vec::new(), UniqueIndex::keys(&unique, &c.fields));
                }
                self.company_index = index;
            }
        }
    }

    /// Adds (or redefines) a custom field (see [`Catalog::add_custom`]).
    pub fn add_custom_field(
        &mut self,
        object: Object,
        alias: &str,
        field_type: &str,
        how: super::fields::CustomField,
    ) {
        self.catalog.add_custom(object, alias, field_type, how);
        self.reindex_all(object);
    }

    /// Flags a field as a unique identifier or not; false when there is no such field.
    pub fn set_unique(&mut self, object: Object, alias: &str, unique: bool) -> bool {
        let found = self.catalog.set_unique(object, alias, unique);
        self.reindex_all(object);
        found
    }

    /// Changes a contact through `f`, keeping the unique-value index current; `None` when
    /// there is no such contact.
    fn change_contact<R>(&mut self, id: u64, f: impl FnOnce(&mut Contact) -> R) -> Option<R> {
        let unique = self.unique_aliases(Object::Contact);
        let c = self.contacts.get_mut(&id)?;
        let before = UniqueIndex::keys(&unique, &c.fields);
        let r = f(c);
        let after = UniqueIndex::keys(&unique, &c.fields);
        self.contact_index.update(id, before, after);
        Some(r)
    }

    /// Changes a company through `f`, keeping the unique-value index current.
    fn change_company<R>(&mut self, id: u64, f: impl FnOnce(&mut Company) -> R) -> Option<R> {
        let unique = self.unique_aliases(Object::Company);
        let c = self.companies.get_mut(&id)?;
        let before = UniqueIndex::keys(&unique, &c.fields);
        let r = f(c);
        let after = UniqueIndex::keys(&unique, &c.fields);
        self.company_index.update(id, before, after);
        Some(r)
    }

    fn index(&self, object: Object) -> &UniqueIndex {
        match object {
            Object::Contact => &self.contact_index,
            Object::Company => &self.company_index,
        }
    }

    fn operator(&self, object: Object) -> UniqueOperator {
        match object {
            Object::Contact => self.contact_operator,
            Object::Company => self.company_operator,
        }
    }

    /// The unique identifier values a write carries: published unique fields present in the
    /// request with a non-empty value (`DeduperTrait::getUniqueData`,
    /// `LeadModel::checkForDuplicateContact`).
    fn unique_data(&self, object: Object, prepared: &Prepared) -> Vec<(String, Json)> {
        self.unique_aliases(object)
            .into_iter()
            .filter_map(|a| {
                prepared
                    .value(&a)
                    .filter(|v| unique_key(v).is_some())
                    .map(|v| (a, v.clone()))
            })
            .collect()
    }

    /// The records holding the given unique values, combined with the object's operator
    /// (`getLeadsByUniqueFields` / `getCompaniesByUniqueFields`).
    fn holders(&self, object: Object, data: &[(String, Json)]) -> BTreeSet<u64> {
        let index = self.index(object);
        let mut sets = data.iter().map(|(a, v)| index.holders(a, v));
        match self.operator(object) {
            UniqueOperator::Or => sets.fold(BTreeSet::new(), |mut acc, s| {
                acc.extend(s);
                acc
            }),
            UniqueOperator::And => match sets.next() {
                None => BTreeSet::new(),
                Some(first) => sets.fold(first, |acc, s| acc.intersection(&s).copied().collect()),
            },
        }
    }

    /// `UniqueCustomFieldValidator`: a record may not take a unique value another record
    /// holds, nor one that two records hold. With the OR operator each field is checked on its
    /// own, with AND the values together. `own`: the record being saved (none for a new one).
    fn check_unique(
        &self,
        object: Object,
        data: &[(String, Json)],
        own: Option<u64>,
    ) -> Result<(), ItemError> {
        let valid = |holders: &BTreeSet<u64>| match holders.len() {
            0 => true,
            1 => holders.first().copied() == own,
            _ => false,
        };
        match self.operator(object) {
            UniqueOperator::Or => {
                for (alias, v) in data {
                    if !valid(&self.index(object).holders(alias, v)) {
                        return Err(ItemError::not_unique(alias));
                    }
                }
            }
            UniqueOperator::And => {
                if !data.is_empty() && !valid(&self.holders(object, data)) {
                    return Err(ItemError::not_unique(&data[0].0));
                }
            }
        }
        Ok(())
    }

    /// Reads an item's values. Unknown aliases are ignored, as Mautic's API forms allow extra
    /// fields (`allow_extra_fields`) and `setFieldValues` only walks the known ones.
    ///
    /// Contacts (`LeadApiController::preSaveEntity` -> `setCustomFieldValues($isPostOrPatch)`):
    /// on POST and PATCH, blanks are ignored unless `overwriteWithBlank`, and every value that
    /// is numeric and casts to 0 is dropped (5.x). Companies (`CompanyApiController::
    /// preSaveEntity` passes no `$isPostOrPatch`): blanks always overwrite, zeros are kept.
    fn prepare(
        &self,
        object: Object,
        params: &Map<String, Json>,
        method: Method,
    ) -> Result<Prepared, ItemError> {
        let post_or_patch = matches!(method, Method::Post | Method::Patch);
        let contact_rules = object == Object::Contact && post_or_patch;
        let overwrite = !contact_rules
            || method == Method::User
            || php_truthy(params.get("overwriteWithBlank"));
        let mut set = Vec::new();
        let mut errors = Vec::new();
        for (alias, raw) in params {
            let Some(def) = self.catalog.get(object, alias) else {
                continue;
            };
            if contact_rules
                && self.profile.drops_zeros()
                && def.field_type != "boolean"
                && php_numeric_zero(raw)
            {
                continue;
            }
            match read_value(def, raw, self.profile) {
                Incoming::Blank if overwrite => set.push((alias.clone(), None)),
                Incoming::Blank | Incoming::Ignore => {}
                Incoming::Set(v) => set.push((alias.clone(), Some(v))),
                // The interface would have refused it; a test storing it on purpose (an
                // imported bad e-mail) gets the raw value.
                Incoming::Invalid(_) if method == Method::User => {
                    set.push((alias.clone(), Some(raw.clone())));
                }
                Incoming::Invalid(m) => errors.push((alias.clone(), m)),
            }
        }
        // A required field may not be blank (`NotBlank`, "This field is required."):
        // a company's name.
        if method != Method::User {
            for def in self.catalog.of(object).filter(|d| d.required) {
                if set.iter().any(|(a, v)| a == &def.alias && v.is_none()) {
                    errors.push((def.alias.clone(), "This field is required.".into()));
                }
            }
        }
        if !errors.is_empty() {
            // The messages come as "alias: text" from `read_value`; keep the text.
            let errors = errors
                .into_iter()
                .map(|(a, m)| {
                    let text = m
                        .strip_prefix(&format!("{a}: "))
                        .map(str::to_owned)
                        .unwrap_or(m);
                    (a, text)
                })
                .collect();
            return Err(ItemError::form(400, errors));
        }
        Ok(Prepared { set })
    }

    /// With `clearMissing` (`PUT`, and `POST` with `overwriteWithBlank`), the fields a write
    /// does not name are submitted empty and cleared (`points` becomes 0).
    fn clear_missing(&self, object: Object, prepared: &mut Prepared) {
        for def in self.catalog.of(object) {
            if !prepared.names(&def.alias) {
                let cleared = (def.alias == "points").then(|| serde_json::json!(0));
                prepared.set.push((def.alias.clone(), cleared));
            }
        }
    }

    /// Applies the values; whether anything changed (`date_modified` moves only then:
    /// `FormModel::setTimestamps` skips an entity without changes).
    fn apply(fields: &mut BTreeMap<String, Json>, prepared: &Prepared) -> bool {
        let mut changed = false;
        for (alias, v) in &prepared.set {
            match v {
                Some(v) => {
                    if fields.get(alias) != Some(v) {
                        fields.insert(alias.clone(), v.clone());
                        changed = true;
                    }
                }
                None => changed |= fields.remove(alias).is_some(),
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests;
