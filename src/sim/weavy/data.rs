//! The weavy simulator's data: its three tables with their dictionaries and API rights, and
//! the rules of Select, Get, insert and update, as plain functions over in-memory state with
//! the clock passed in. Kept apart from the HTTP handlers so the rules (and the quirks they
//! reproduce) are unit-tested without a server.
//!
//! What `API-NOTES.md` leaves **unknown** is a knob ([`WeavyReadings`], every plausible
//! reading; the connector must cope with each):
//! - the order of Select rows (insertion, key, or `srvDate` so that an edit moves a row to the
//!   end), what `offset` counts (rows, or pages of `page_cap`), which fields a row holds;
//! - the zone `srvDate` is shown in (the project's, or UTC), and the zone a `srvDate` filter
//!   compares in. `srvDate` is stored as an instant and shown as
//!   the project's wall time, to the second: under the project-zone reading, during the autumn
//!   fold a record stamped in the second pass of the repeated hour compares *lower* than one
//!   stamped earlier in the first pass, exactly the trap a real zone-less column sets. Under
//!   the UTC reading the filter value is read as UTC. `srvDateUTC` compares in UTC;
//! - what an insert of an existing key answers, whether an update needs the key in its body,
//!   what a missing right answers, and the body of a successful write.
//!
//! Choices that are not knobs:
//! - `equal` compares texts ignoring case and trailing spaces (SQL Server's default collation).
//! - A write naming an unknown field answers 400 naming the field; writing a read-only field
//!   (`srvDate`, a foreign key other than a contact's `customer_ID`) answers 400 as well.
//! - A contact's `customer_ID` (`text(foreignkey)`) is writable: it is the contact's company.
//!   When foreign keys are enforced it must name an existing `customer`.
//! - Rights are checked after the token and before anything else (existence, validation), so
//!   a write without its right answers 403 whatever its body. The Dictionary needs no right.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value as Json};
use std::collections::{BTreeMap, HashMap};

use super::readings::{
    DuplicateInsert, FilterZone, OffsetUnit, PutKey, ReturnFields, RowOrder, ShownZone,
    WeavyReadings,
};
use crate::connector::WeavyRight;

/// The key field of every table, the server's stamps, and the format of dates in answers.
pub(crate) const SRV_DATE: &str = "srvDate";
pub(crate) const SRV_DATE_UTC: &str = "srvDateUTC";
const OUT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// How a call failed, before it is turned into an HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    BadRequest(String),
    Forbidden(String),
    NotFound(String),
    Unauthorized(String),
    Conflict(String),
    ServerError(String),
}

/// One column of a table as the Dictionary describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldDef {
    pub name: String,
    pub label: String,
    pub field_type: String,
    pub length: u32,
}

impl FieldDef {
    fn new(name: &str, label: &str, field_type: &str, length: u32) -> Self {
        FieldDef {
            name: name.to_owned(),
            label: label.to_owned(),
            field_type: field_type.to_owned(),
            length,
        }
    }
}

/// One record: its key, its values by field name, and the instant it was last written.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub id: String,
    pub values: BTreeMap<String, Json>,
    pub srv: DateTime<Utc>,
}

/// One table with its rows in insertion order, its rights and its API counters.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub entity: &'static str,
    pub label: &'static str,
    pub fields: Vec<FieldDef>,
    pub rows: Vec<Row>,
    index: HashMap<String, usize>,
    pub read: bool,
    pub insert: bool,
    pub update: bool,
    pub api_inserts: u64,
    pub api_updates: u64,
    pub inserted_per_email: BTreeMap<String, u64>,
    /// The rows the last Select's filters matched, until a row changes.
    matched: Option<Matched>,
}

/// The positions of the rows some filters match. A pager sends the same filters for every
/// page: without this, each page would scan the table from its first row again (offset
/// paging over N rows would cost N^2/page).
#[derive(Debug, Clone)]
struct Matched {
    filters: Vec<Filter>,
    positions: Vec<usize>,
}

impl Table {
    fn new(entity: &'static str, label: &'static str, fields: Vec<FieldDef>) -> Self {
        Table {
            entity,
            label,
            fields,
            rows: Vec::new(),
            index: HashMap::new(),
            read: true,
            insert: true,
            update: true,
            api_inserts: 0,
            api_updates: 0,
            inserted_per_email: BTreeMap::new(),
            matched: None,
        }
    }

    /// `customer_ID`, `customercontact_ID`, `marketinginbound_ID`.
    pub fn key(&self) -> String {
        format!("{}_ID", self.entity)
    }

    pub fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    pub fn row(&self, id: &str) -> Option<&Row> {
        self.index.get(id).map(|&i| &self.rows[i])
    }

    fn row_mut(&mut self, id: &str) -> Option<&mut Row> {
        self.matched = None;
        self.index.get(id).map(|&i| &mut self.rows[i])
    }

    fn push(&mut self, row: Row) {
        self.matched = None;
        self.index.insert(row.id.clone(), self.rows.len());
        self.rows.push(row);
    }

    fn right(&self, right: WeavyRight) -> bool {
        match right {
            WeavyRight::Read => self.read,
            WeavyRight::Insert => self.insert,
            WeavyRight::Update => self.update,
        }
    }

    pub fn require(&self, right: WeavyRight) -> Result<(), ApiError> {
        if self.right(right) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "Access denied: the API right '{}' is not granted on table '{}' ({})",
                right.studio_column(),
                self.entity,
                self.label
            )))
        }
    }
}

/// The standard columns of the three tables. `marketinginbound` beyond `email` is not
/// documented; these are plausible ones.
fn standard_tables() -> Vec<Table> {
    let customer = Table::new(
        "customer",
        "Client",
        vec![
            FieldDef::new("customer_ID", "Code client", "text", 50),
            FieldDef::new("name", "Raison sociale", "text", 100),
            FieldDef::new("email", "E-mail", "text", 255),
            FieldDef::new("phoneNumber", "Téléphone", "text", 30),
            FieldDef::new("address1", "Adresse 1", "text", 255),
            FieldDef::new("address2", "Adresse 2", "text", 255),
            FieldDef::new("postalCode", "Code postal", "text", 10),
            FieldDef::new("city", "Ville", "text", 100),
            FieldDef::new("country", "Pays", "text", 50),
            FieldDef::new("website", "Site web", "text", 255),
            FieldDef::new("siretNumber", "SIRET", "text", 14),
            FieldDef::new("vatIntra", "TVA intracommunautaire", "text", 20),
            FieldDef::new("employeeCount", "Effectif", "number", 10),
            FieldDef::new("isProspect", "Prospect", "boolean", 1),
            FieldDef::new("user_ID", "Commercial", "text(foreignkey)", 50),
        ],
    );
    let contact = Table::new(
        "customercontact",
        "Client / Contact",
        vec![
            FieldDef::new("customercontact_ID", "Code contact", "text", 50),
            FieldDef::new("customer_ID", "Client", "text(foreignkey)", 50),
            FieldDef::new("civility", "Civilité", "text", 10),
            FieldDef::new("lastName", "Nom", "text", 100),
            FieldDef::new("firstName", "Prénom", "text", 100),
            FieldDef::new("email", "E-mail", "text", 255),
            FieldDef::new("phoneNumber", "Téléphone", "text", 30),
            FieldDef::new("mobilePhoneNumber", "Portable", "text", 30),
            FieldDef::new("jobTitle", "Fonction", "text", 100),
            FieldDef::new("emailOptIn", "Accepte les e-mails", "boolean", 1),
            FieldDef::new("bouncedEmailDetected", "NPAI e-mail", "datetime", 19),
            FieldDef::new("closedDate", "Date de fermeture", "date", 10),
        ],
    );
    let entrant = Table::new(
        "marketinginbound",
        "Marketing / Entrant",
        vec![
            FieldDef::new("marketinginbound_ID", "Code entrant", "text", 50),
            FieldDef::new("email", "E-mail", "text", 255),
            FieldDef::new("lastName", "Nom", "text", 100),
            FieldDef::new("firstName", "Prénom", "text", 100),
            FieldDef::new("phoneNumber", "Téléphone", "text", 30),
            FieldDef::new("mobilePhoneNumber", "Portable", "text", 30),
            FieldDef::new("companyName", "Société", "text", 100),
            FieldDef::new("postalCode", "Code postal", "text", 10),
            FieldDef::new("city", "Ville", "text", 100),
            FieldDef::new("origin", "Origine", "text", 100),
            FieldDef::new("comment", "Commentaire", "text", 1000),
            FieldDef::new("receivedDate", "Date de réception", "datetime", 19),
        ],
    );
    vec![customer, contact, entrant]
}

/// The whole database of one simulated project.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    tables: BTreeMap<&'static str, Table>,
    pub tz: Tz,
    pub enforce_foreign_keys: bool,
    /// The reading of each unknown this server has.
    pub readings: WeavyReadings,
}

/// A parsed Select body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SelectQuery {
    pub entity: String,
    pub offset: usize,
    pub return_fields: Vec<String>,
    pub filters: Vec<Filter>,
}

/// One entry of `filterFields`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    pub field: String,
    pub op: Op,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Equal,
    GreaterThan,
    LessThan,
}

impl SelectQuery {
    /// Reads a Select body; a malformed one is a 400 naming what is wrong.
    pub fn parse(body: &Json) -> Result<SelectQuery, ApiError> {
        let bad = |m: &str| ApiError::BadRequest(m.to_owned());
        let obj = body
            .as_object()
            .ok_or_else(|| bad("body must be an object"))?;
        let entity = obj
            .get("entityName")
            .and_then(Json::as_str)
            .ok_or_else(|| bad("entityName is required"))?
            .to_owned();
        let offset = match obj.get("offset") {
            None | Some(Json::Null) => 0,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| bad("offset must be a non-negative integer"))?
                as usize,
        };
        let mut return_fields = Vec::new();
        if let Some(list) = obj.get("returnFields").filter(|v| !v.is_null()) {
            let list = list
                .as_array()
                .ok_or_else(|| bad("returnFields must be an array"))?;
            for f in list {
                let name = f
                    .get("fieldName")
                    .and_then(Json::as_str)
                    .ok_or_else(|| bad("each returnFields entry needs a fieldName"))?;
                return_fields.push(name.to_owned());
            }
        }
        let mut filters = Vec::new();
        if let Some(list) = obj.get("filterFields").filter(|v| !v.is_null()) {
            let list = list
                .as_array()
                .ok_or_else(|| bad("filterFields must be an array"))?;
            for f in list {
                let field = f
                    .get("fieldName")
                    .and_then(Json::as_str)
                    .ok_or_else(|| bad("each filterFields entry needs a fieldName"))?
                    .to_owned();
                let op = match f.get("operator").and_then(Json::as_str) {
                    Some(o) if o.eq_ignore_ascii_case("equal") => Op::Equal,
                    Some(o) if o.eq_ignore_ascii_case("greaterthan") => Op::GreaterThan,
                    Some(o) if o.eq_ignore_ascii_case("lessthan") => Op::LessThan,
                    Some(o) => {
                        return Err(ApiError::BadRequest(format!("unknown operator '{o}'")));
                    }
                    None => return Err(bad("each filterFields entry needs an operator")),
                };
                let values: Vec<String> = f
                    .get("filterValues")
                    .and_then(Json::as_array)
                    .ok_or_else(|| bad("each filterFields entry needs filterValues"))?
                    .iter()
                    .map(|v| match v {
                        Json::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                if values.is_empty() {
                    return Err(bad("filterValues must not be empty"));
                }
                filters.push(Filter { field, op, values });
            }
        }
        Ok(SelectQuery {
            entity,
            offset,
            return_fields,
            filters,
        })
    }
}

/// A naive date-time as the API writes one: `YYYY-MM-DD HH:MM:SS` or with a `T`, with an
/// optional fraction; a zone suffix is not accepted (the server's dates have none).
pub(crate) fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    let t = s.trim();
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
}

fn parse_day(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

impl Db {
    pub fn new(tz: Tz, enforce_foreign_keys: bool) -> Db {
        Db {
            tables: standard_tables()
                .into_iter()
                .map(|t| (t.entity, t))
                .collect(),
            tz,
            enforce_foreign_keys,
            readings: WeavyReadings::default(),
        }
    }

    pub fn table(&self, entity: &str) -> Result<&Table, ApiError> {
        self.tables
            .get(entity)
            .ok_or_else(|| ApiError::NotFound(format!("unknown entity '{entity}'")))
    }

    fn table_mut(&mut self, entity: &str) -> Result<&mut Table, ApiError> {
        self.tables
            .get_mut(entity)
            .ok_or_else(|| ApiError::NotFound(format!("unknown entity '{entity}'")))
    }

    /// The table or a panic naming it: for the "as a user" helpers, where an unknown name is
    /// a bug in the test.
    pub fn expect_table(&mut self, entity: &str) -> &mut Table {
        self.tables
            .get_mut(entity)
            .unwrap_or_else(|| panic!("the weavy simulator has no table '{entity}'"))
    }

    pub fn set_right(&mut self, entity: &str, right: WeavyRight, allowed: bool) {
        let t = self.expect_table(entity);
        match right {
            WeavyRight::Read => t.read = allowed,
            WeavyRight::Insert => t.insert = allowed,
            WeavyRight::Update => t.update = allowed,
        }
    }

    pub fn add_custom_field(&mut self, entity: &str, name: &str, field_type: &str) {
        let t = self.expect_table(entity);
        if t.field(name).is_none() {
            let length = if field_type.starts_with("text") {
                255
            } else {
                19
            };
            t.fields.push(FieldDef::new(name, name, field_type, length));
        }
    }

    /// Gives a field another Dictionary type (a project whose Dictionary calls a standard
    /// field otherwise, e.g. `bouncedEmailDetected` a `text`). Values kept stay as they are.
    pub fn set_field_type(&mut self, entity: &str, name: &str, field_type: &str) {
        let t = self.expect_table(entity);
        if let Some(f) = t.fields.iter_mut().find(|f| f.name == name) {
            f.field_type = field_type.to_owned();
            if field_type.starts_with("text") {
                f.length = f.length.max(255);
            }
        }
    }

    /// An instant as `srvDate` shows it (the reading of [`ShownZone`]), to the second.
    fn shown(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self.readings.shown_zone {
            ShownZone::Project => self.local(t),
            ShownZone::Utc => t.trunc_subsecs(0).naive_utc(),
        }
    }

    /// The local wall-clock time of an instant in the project's zone, to the second.
    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        t.trunc_subsecs(0).with_timezone(&self.tz).naive_local()
    }

    /// A row as the API answers it. Which fields it holds is a reading
    /// ([`ReturnFields`]): the key, the asked fields (all when none are asked) and the
    /// stamps; or every field whatever is asked; or only what is asked.
    pub fn render(&self, table: &Table, row: &Row, fields: &[String]) -> Map<String, Json> {
        let key = table.key();
        let strict = self.readings.return_fields == ReturnFields::Strict && !fields.is_empty();
        let names: Vec<String> = match (self.readings.return_fields, fields.is_empty()) {
            (ReturnFields::All, _) | (_, true) => {
                table.fields.iter().map(|f| f.name.clone()).collect()
            }
            _ => fields.to_vec(),
        };
        let shown = |f: &str| !strict || fields.iter().any(|x| x == f);
        let mut out = Map::new();
        if shown(&key) {
            out.insert(key.clone(), Json::String(row.id.clone()));
        }
        for name in &names {
            if *name == key || name == SRV_DATE || name == SRV_DATE_UTC {
                continue;
            }
            out.insert(
                name.clone(),
                row.values.get(name).cloned().unwrap_or(Json::Null),
            );
        }
        if shown(SRV_DATE) {
            out.insert(
                SRV_DATE.to_owned(),
                Json::String(self.shown(row.srv).format(OUT_FORMAT).to_string()),
            );
        }
        if shown(SRV_DATE_UTC) {
            out.insert(
                SRV_DATE_UTC.to_owned(),
                Json::String(row.srv.trunc_subsecs(0).format(OUT_FORMAT).to_string()),
            );
        }
        out
    }

    /// One page of a Select.
    pub fn select(&mut self, q: &SelectQuery, page_cap: usize) -> Result<Vec<Json>, ApiError> {
        let table = self.table(&q.entity)?;
        table.require(WeavyRight::Read)?;
        for f in &q.return_fields {
            if f != SRV_DATE && f != SRV_DATE_UTC && table.field(f).is_none() {
                return Err(ApiError::BadRequest(format!(
                    "unknown field '{f}' in returnFields for entity '{}'",
                    table.entity
                )));
            }
        }
        for f in &q.filters {
            if f.field != SRV_DATE && f.field != SRV_DATE_UTC && table.field(&f.field).is_none() {
                return Err(ApiError::BadRequest(format!(
                    "unknown field '{}' in filterFields for entity '{}'",
                    f.field, table.entity
                )));
            }
            if (f.field == SRV_DATE || f.field == SRV_DATE_UTC)
                && f.values.iter().any(|v| parse_naive(v).is_none())
            {
                return Err(ApiError::BadRequest(format!(
                    "filter on '{}' needs a date 'YYYY-MM-DD HH:MM:SS'",
                    f.field
                )));
            }
        }
        let cached = table.matched.as_ref().filter(|m| m.filters == q.filters);
        let cap = page_cap.max(1);
        let skip = match self.readings.offset_unit {
            OffsetUnit::Rows => q.offset,
            OffsetUnit::Pages => q.offset.saturating_mul(cap),
        };
        let page = |positions: &[usize]| -> Vec<usize> {
            positions.iter().skip(skip).take(cap).copied().collect()
        };
        let rows = match cached {
            Some(m) => page(&m.positions),
            None => {
                let mut positions: Vec<usize> = (0..table.rows.len())
                    .filter(|&i| {
                        q.filters
                            .iter()
                            .all(|f| self.matches(table, &table.rows[i], f))
                    })
                    .collect();
                match self.readings.row_order {
                    RowOrder::Insertion => {}
                    RowOrder::Key => {
                        positions.sort_by(|a, b| table.rows[*a].id.cmp(&table.rows[*b].id))
                    }
                    RowOrder::Modified => positions.sort_by_key(|i| (table.rows[*i].srv, *i)),
                }
                let rows = page(&positions);
                self.table_mut(&q.entity)?.matched = Some(Matched {
                    filters: q.filters.clone(),
                    positions,
                });
                rows
            }
        };
        let table = self.table(&q.entity)?;
        Ok(rows
            .into_iter()
            .map(|i| Json::Object(self.render(table, &table.rows[i], &q.return_fields)))
            .collect())
    }

    fn matches(&self, table: &Table, row: &Row, f: &Filter) -> bool {
        use std::cmp::Ordering;
        let cmp_one = |wanted: &str| -> Option<Ordering> {
            if f.field == SRV_DATE {
                let shown = match self.readings.filter_zone {
                    FilterZone::Project => self.shown(row.srv),
                    FilterZone::Utc => row.srv.trunc_subsecs(0).naive_utc(),
                };
                return Some(shown.cmp(&parse_naive(wanted)?));
            }
            if f.field == SRV_DATE_UTC {
                return Some(
                    row.srv
                        .trunc_subsecs(0)
                        .naive_utc()
                        .cmp(&parse_naive(wanted)?),
                );
            }
            let value = if f.field == table.key() {
                Json::String(row.id.clone())
            } else {
                row.values.get(&f.field).cloned().unwrap_or(Json::Null)
            };
            compare_value(&value, wanted)
        };
        match f.op {
            Op::Equal => f.values.iter().any(|v| cmp_one(v) == Some(Ordering::Equal)),
            Op::GreaterThan => cmp_one(&f.values[0]) == Some(Ordering::Greater),
            Op::LessThan => cmp_one(&f.values[0]) == Some(Ordering::Less),
        }
    }

    /// One record by key.
    pub fn get(&self, entity: &str, id: &str) -> Result<Map<String, Json>, ApiError> {
        let table = self.table(entity)?;
        table.require(WeavyRight::Read)?;
        let row = table
            .row(id)
            .ok_or_else(|| ApiError::NotFound(format!("{entity} '{id}' not found")))?;
        Ok(self.render(table, row, &[]))
    }

    /// An insert through the API.
    pub fn api_insert(
        &mut self,
        entity: &str,
        body: &Json,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let table = self.table(entity)?;
        table.require(WeavyRight::Insert)?;
        let key = table.key();
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::BadRequest("body must be a JSON object".into()))?;
        let id = match obj.get(&key) {
            Some(Json::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Json::Number(n)) => n.to_string(),
            _ => return Err(ApiError::BadRequest(format!("{key} is required"))),
        };
        if id.chars().count() > 50 {
            return Err(ApiError::BadRequest(format!(
                "{key} is longer than 50 characters"
            )));
        }
        let exists = table.row(&id).is_some();
        if exists {
            let message = format!("duplicate key: {key} '{id}' already exists");
            match self.readings.duplicate_insert {
                DuplicateInsert::BadRequest => return Err(ApiError::BadRequest(message)),
                DuplicateInsert::Conflict => return Err(ApiError::Conflict(message)),
                DuplicateInsert::ServerError => return Err(ApiError::ServerError(message)),
                DuplicateInsert::Overwrite => {}
            }
        }
        let mut values = BTreeMap::new();
        for (name, v) in obj {
            if *name == key {
                continue;
            }
            values.insert(name.clone(), self.check_write(table, name, v)?);
        }
        if exists {
            // The record is replaced by what was sent: fields not sent are emptied.
            let table = self.table_mut(entity)?;
            let row = table.row_mut(&id).expect("it exists");
            row.values = values;
            row.srv = now;
            table.api_updates += 1;
            return Ok(id);
        }
        let email = values
            .get("email")
            .and_then(Json::as_str)
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty());
        let table = self.table_mut(entity)?;
        table.push(Row {
            id: id.clone(),
            values,
            srv: now,
        });
        table.api_inserts += 1;
        if let Some(e) = email {
            *table.inserted_per_email.entry(e).or_default() += 1;
        }
        Ok(id)
    }

    /// A partial update through the API: only the fields sent change.
    pub fn api_update(
        &mut self,
        entity: &str,
        id: &str,
        body: &Json,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let table = self.table(entity)?;
        table.require(WeavyRight::Update)?;
        let key = table.key();
        if table.row(id).is_none() {
            return Err(ApiError::NotFound(format!("{entity} '{id}' not found")));
        }
        let obj = body
            .as_object()
            .ok_or_else(|| ApiError::BadRequest("body must be a JSON object".into()))?;
        if self.readings.put_key == PutKey::Required && !obj.contains_key(&key) {
            return Err(ApiError::BadRequest(format!("{key} is required")));
        }
        let mut changes = Vec::new();
        for (name, v) in obj {
            if *name == key {
                if v.as_str() == Some(id) {
                    continue;
                }
                return Err(ApiError::BadRequest(format!(
                    "field '{key}' is the key and cannot be changed"
                )));
            }
            changes.push((name.clone(), self.check_write(table, name, v)?));
        }
        let table = self.table_mut(entity)?;
        let row = table.row_mut(id).expect("checked above");
        for (name, v) in changes {
            row.values.insert(name, v);
        }
        row.srv = now;
        table.api_updates += 1;
        Ok(())
    }

    /// Checks one written value against the dictionary and returns it as stored.
    fn check_write(&self, table: &Table, name: &str, v: &Json) -> Result<Json, ApiError> {
        let bad = |why: &str| {
            ApiError::BadRequest(format!(
                "field '{name}' of entity '{}': {why}",
                table.entity
            ))
        };
        if name == SRV_DATE || name == SRV_DATE_UTC {
            return Err(bad("read-only"));
        }
        let Some(def) = table.field(name) else {
            return Err(ApiError::BadRequest(format!(
                "unknown field '{name}' for entity '{}'",
                table.entity
            )));
        };
        if v.is_null() {
            return Ok(Json::Null);
        }
        let text = |v: &Json| -> Option<String> {
            match v {
                Json::String(s) => Some(s.clone()),
                Json::Number(n) => Some(n.to_string()),
                Json::Bool(b) => Some(b.to_string()),
                _ => None,
            }
        };
        match def.field_type.as_str() {
            "text(foreignkey)" => {
                if !(table.entity == "customercontact" && name == "customer_ID") {
                    return Err(bad("read-only through the API (a foreign key)"));
                }
                let s = text(v).ok_or_else(|| bad("expected a customer code"))?;
                if s.is_empty() {
                    return Ok(Json::Null);
                }
                if self.enforce_foreign_keys
                    && self
                        .tables
                        .get("customer")
                        .is_none_or(|c| c.row(&s).is_none())
                {
                    return Err(bad(&format!("customer '{s}' does not exist")));
                }
                Ok(Json::String(s))
            }
            "boolean" => match v {
                Json::Bool(b) => Ok(Json::Bool(*b)),
                Json::Number(n) if n.as_f64() == Some(0.0) || n.as_f64() == Some(1.0) => {
                    Ok(Json::Bool(n.as_f64() == Some(1.0)))
                }
                Json::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => Ok(Json::Bool(true)),
                    "false" | "0" => Ok(Json::Bool(false)),
                    _ => Err(bad("expected a boolean")),
                },
                _ => Err(bad("expected a boolean")),
            },
            "number" => match v {
                Json::Number(n) => Ok(Json::Number(n.clone())),
                Json::String(s) => s
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Json::Number)
                    .ok_or_else(|| bad("expected a number")),
                _ => Err(bad("expected a number")),
            },
            "date" => {
                let s = v.as_str().ok_or_else(|| bad("expected a date"))?;
                let day = parse_day(s)
                    .or_else(|| parse_naive(s).map(|d| d.date()))
                    .ok_or_else(|| bad("expected a date 'YYYY-MM-DD'"))?;
                Ok(Json::String(format!("{}T00:00:00", day.format("%Y-%m-%d"))))
            }
            "datetime" => {
                let s = v.as_str().ok_or_else(|| bad("expected a date-time"))?;
                let t = parse_naive(s)
                    .or_else(|| parse_day(s).and_then(|d| d.and_hms_opt(0, 0, 0)))
                    .ok_or_else(|| bad("expected a local date-time 'YYYY-MM-DDTHH:MM:SS'"))?;
                Ok(Json::String(t.format(OUT_FORMAT).to_string()))
            }
            _ => {
                let s = text(v).ok_or_else(|| bad("expected a text"))?;
                if s.chars().count() > def.length as usize {
                    return Err(bad(&format!("longer than {} characters", def.length)));
                }
                Ok(Json::String(s))
            }
        }
    }

    /// A record created or overwritten by a user (no rights, no validation beyond the field
    /// names, no API counters).
    pub fn user_insert(
        &mut self,
        entity: &str,
        id: &str,
        fields: &[(&str, Json)],
        now: DateTime<Utc>,
    ) {
        let t = self.expect_table(entity);
        let values = user_values(t, fields);
        match t.row_mut(id) {
            Some(row) => {
                row.values = values;
                row.srv = now;
            }
            None => t.push(Row {
                id: id.to_owned(),
                values,
                srv: now,
            }),
        }
    }

    /// A record edited by a user; false when there is no such record.
    pub fn user_edit(
        &mut self,
        entity: &str,
        id: &str,
        fields: &[(&str, Json)],
        now: DateTime<Utc>,
    ) -> bool {
        let t = self.expect_table(entity);
        let values = user_values(t, fields);
        match t.row_mut(id) {
            Some(row) => {
                row.values.extend(values);
                row.srv = now;
                true
            }
            None => false,
        }
    }

    pub fn record(&self, entity: &str, id: &str) -> Option<BTreeMap<String, Json>> {
        let t = self.tables.get(entity)?;
        t.row(id)
            .map(|r| self.render(t, r, &[]).into_iter().collect())
    }

    pub fn records(&self, entity: &str) -> Vec<BTreeMap<String, Json>> {
        self.tables
            .get(entity)
            .map(|t| {
                t.rows
                    .iter()
                    .map(|r| self.render(t, r, &[]).into_iter().collect())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn table_opt(&self, entity: &str) -> Option<&Table> {
        self.tables.get(entity)
    }
}

fn user_values(t: &Table, fields: &[(&str, Json)]) -> BTreeMap<String, Json> {
    let key = t.key();
    fields
        .iter()
        .filter(|(n, _)| *n != key)
        .map(|(n, v)| {
            assert!(
                t.field(n).is_some(),
                "the weavy simulator's table '{}' has no field '{n}'",
                t.entity
            );
            ((*n).to_owned(), v.clone())
        })
        .collect()
}

/// How a stored value compares with a filter value: numbers as numbers, booleans as
/// `true`/`1`, texts ignoring case and trailing spaces.
fn compare_value(value: &Json, wanted: &str) -> Option<std::cmp::Ordering> {
    match value {
        Json::Null => None,
        Json::Number(n) => {
            let w: f64 = wanted.trim().parse().ok()?;
            n.as_f64()?.partial_cmp(&w)
        }
        Json::Bool(b) => {
            let w = match wanted.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return None,
            };
            Some(b.cmp(&w))
        }
        Json::String(s) => {
            let a = s.trim_end().to_lowercase();
            let b = wanted.trim_end().to_lowercase();
            Some(a.cmp(&b))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn utc(s: &str) -> DateTime<Utc> {
        Utc.from_utc_datetime(&parse_naive(s).unwrap())
    }

    fn db() -> Db {
        Db::new(chrono_tz::Europe::Paris, true)
    }

    fn select(db: &mut Db, body: Json, cap: usize) -> Result<Vec<Json>, ApiError> {
        db.select(&SelectQuery::parse(&body).unwrap(), cap)
    }

    fn ids(rows: &[Json], key: &str) -> Vec<String> {
        rows.iter()
            .map(|r| r[key].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn srv_date_is_local_and_compared_in_local_time() {
        let mut db = db();
        db.user_insert(
            "customer",
            "A",
            &[("name", json!("a"))],
            utc("2024-07-01 09:59:50"),
        );
        db.user_insert(
            "customer",
            "B",
            &[("name", json!("b"))],
            utc("2024-07-01 10:00:01"),
        );
        let row = db.record("customer", "B").unwrap();
        assert_eq!(row["srvDate"], json!("2024-07-01T12:00:01"));
        assert_eq!(row["srvDateUTC"], json!("2024-07-01T10:00:01"));
        let body = |op: &str, field: &str, v: &str| {
            json!({"entityName": "customer", "offset": 0, "returnFields": [],
                   "filterFields": [{"filterKey": "k", "fieldName": field, "operator": op, "filterValues": [v]}]})
        };
        let rows = select(
            &mut db,
            body("GreaterThan", "srvDate", "2024-07-01 12:00:00"),
            10,
        )
        .unwrap();
        assert_eq!(ids(&rows, "customer_ID"), ["B"]);
        // The same instant written in UTC matches both: srvDate is not UTC.
        let rows = select(
            &mut db,
            body("GreaterThan", "srvDate", "2024-07-01 10:00:00"),
            10,
        )
        .unwrap();
        assert_eq!(ids(&rows, "customer_ID"), ["A", "B"]);
        let rows = select(
            &mut db,
            body("GreaterThan", "srvDateUTC", "2024-07-01 10:00:00"),
            10,
        )
        .unwrap();
        assert_eq!(ids(&rows, "customer_ID"), ["B"]);
        let rows = select(
            &mut db,
            body("LessThan", "srvDate", "2024-07-01 12:00:00"),
            10,
        )
        .unwrap();
        assert_eq!(ids(&rows, "customer_ID"), ["A"]);
    }

    #[test]
    fn the_autumn_fold_makes_later_records_compare_lower() {
        let mut db = db();
        // 00:30 UTC is 02:30 CEST; 01:20 UTC is 02:20 CET, later but lower in local time.
        db.user_insert("customer", "first", &[], utc("2024-10-27 00:30:00"));
        db.user_insert("customer", "second", &[], utc("2024-10-27 01:20:00"));
        let rows = select(
            &mut db,
            json!({"entityName": "customer", "filterFields": [{"fieldName": "srvDate", "operator": "GreaterThan", "filterValues": ["2024-10-27 02:25:00"]}]}),
            10,
        )
        .unwrap();
        assert_eq!(ids(&rows, "customer_ID"), ["first"]);
    }

    #[test]
    fn pages_are_capped_and_offset_counts_rows() {
        let mut db = db();
        for i in 0..7 {
            db.user_insert(
                "customer",
                &format!("C{i}"),
                &[],
                utc("2024-01-01 00:00:00"),
            );
        }
        let mut page = |offset: usize| {
            select(&mut db, json!({"entityName": "customer", "offset": offset, "returnFields": [{"fieldName": "name"}]}), 3)
                .unwrap()
        };
        assert_eq!(ids(&page(0), "customer_ID"), ["C0", "C1", "C2"]);
        assert_eq!(ids(&page(6), "customer_ID"), ["C6"]);
        assert!(page(7).is_empty());
        let row = page(0)[0].as_object().unwrap().clone();
        let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["customer_ID", "name", "srvDate", "srvDateUTC"]);
    }

    #[test]
    fn a_change_between_two_pages_is_seen_by_the_next_one() {
        let mut db = db();
        let old = utc("2024-01-01 00:00:00");
        for i in 0..6 {
            db.user_insert("customer", &format!("C{i}"), &[], old);
        }
        db.user_edit(
            "customer",
            "C1",
            &[("name", json!("x"))],
            utc("2024-06-01 00:00:00"),
        );
        db.user_edit(
            "customer",
            "C4",
            &[("name", json!("x"))],
            utc("2024-06-01 00:00:00"),
        );
        let body = |offset: usize| {
            json!({"entityName": "customer", "offset": offset, "filterFields": [
                {"fieldName": "srvDateUTC", "operator": "GreaterThan", "filterValues": ["2024-05-01 00:00:00"]}]})
        };
        assert_eq!(
            ids(&select(&mut db, body(0), 1).unwrap(), "customer_ID"),
            ["C1"]
        );
        // C2 changes: it now matches, and the row at offset 1 is C2, not C4.
        db.user_edit(
            "customer",
            "C2",
            &[("name", json!("y"))],
            utc("2024-06-02 00:00:00"),
        );
        assert_eq!(
            ids(&select(&mut db, body(1), 1).unwrap(), "customer_ID"),
            ["C2"]
        );
        assert_eq!(
            ids(&select(&mut db, body(2), 5).unwrap(), "customer_ID"),
            ["C4"]
        );
    }

    #[test]
    fn equal_ignores_case_and_ands_filters() {
        let mut db = db();
        let t = utc("2024-01-01 00:00:00");
        db.user_insert(
            "customercontact",
            "X1",
            &[("email", json!("Ann@Example.fr")), ("lastName", json!("A"))],
            t,
        );
        db.user_insert(
            "customercontact",
            "X2",
            &[("email", json!("ann@example.fr")), ("lastName", json!("B"))],
            t,
        );
        db.user_insert(
            "customercontact",
            "X3",
            &[("email", json!("bob@example.fr"))],
            t,
        );
        let f = |v: &str| json!({"fieldName": "email", "operator": "equal", "filterValues": [v]});
        let rows = select(
            &mut db,
            json!({"entityName": "customercontact", "filterFields": [f("ANN@example.fr")]}),
            10,
        )
        .unwrap();
        assert_eq!(ids(&rows, "customercontact_ID"), ["X1", "X2"]);
        let rows = select(
            &mut db,
            json!({"entityName": "customercontact", "filterFields": [f("ann@example.fr"),
                {"fieldName": "lastName", "operator": "equal", "filterValues": ["b"]}]}),
            10,
        )
        .unwrap();
        assert_eq!(ids(&rows, "customercontact_ID"), ["X2"]);
    }

    #[test]
    fn writes_are_validated_and_rights_come_first() {
        let mut db = db();
        let now = utc("2024-01-01 00:00:00");
        db.user_insert("customer", "C1", &[("name", json!("Acme"))], now);
        let err = db
            .api_insert("customer", &json!({"customer_ID": "C1", "name": "x"}), now)
            .unwrap_err();
        assert!(
            matches!(&err, ApiError::BadRequest(m) if m.contains("duplicate key")),
            "{err:?}"
        );
        let err = db
            .api_insert("customer", &json!({"customer_ID": "C2", "nmae": "x"}), now)
            .unwrap_err();
        assert!(
            matches!(&err, ApiError::BadRequest(m) if m.contains("'nmae'")),
            "{err:?}"
        );
        let err = db
            .api_update("customer", "C1", &json!({"user_ID": "U1"}), now)
            .unwrap_err();
        assert!(
            matches!(&err, ApiError::BadRequest(m) if m.contains("read-only")),
            "{err:?}"
        );
        // A contact's company is writable, and must exist.
        db.user_insert("customercontact", "P1", &[], now);
        db.api_update("customercontact", "P1", &json!({"customer_ID": "C1"}), now)
            .unwrap();
        let err = db
            .api_update(
                "customercontact",
                "P1",
                &json!({"customer_ID": "nope"}),
                now,
            )
            .unwrap_err();
        assert!(
            matches!(&err, ApiError::BadRequest(m) if m.contains("does not exist")),
            "{err:?}"
        );
        // Without the right: 403 before existence and validation.
        db.set_right("customer", WeavyRight::Update, false);
        assert!(matches!(
            db.api_update("customer", "missing", &json!({"nope": 1}), now),
            Err(ApiError::Forbidden(_))
        ));
        db.set_right("customer", WeavyRight::Insert, false);
        assert!(matches!(
            db.api_insert("customer", &json!({}), now),
            Err(ApiError::Forbidden(_))
        ));
    }

    #[test]
    fn typed_values_are_normalised() {
        let mut db = db();
        let now = utc("2024-01-01 00:00:00");
        db.api_insert(
            "customercontact",
            &json!({"customercontact_ID": "P1", "emailOptIn": "1", "closedDate": "2024-05-01",
                    "bouncedEmailDetected": "2024-05-01 10:00:00"}),
            now,
        )
        .unwrap();
        let r = db.record("customercontact", "P1").unwrap();
        assert_eq!(r["emailOptIn"], json!(true));
        assert_eq!(r["closedDate"], json!("2024-05-01T00:00:00"));
        assert_eq!(r["bouncedEmailDetected"], json!("2024-05-01T10:00:00"));
        let err = db
            .api_update(
                "customercontact",
                "P1",
                &json!({"bouncedEmailDetected": "2024-05-01T10:00:00Z"}),
                now,
            )
            .unwrap_err();
        assert!(matches!(err, ApiError::BadRequest(_)));
    }
}
