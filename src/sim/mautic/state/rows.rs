//! How `where`, `orderBy` and `search` see a contact or a company: its columns as SQL
//! cells, and the search terms it matches.

use super::super::fields::{Catalog, Object};
use super::super::query::{Cell, Row, SearchTerm, TermKind, like};
use super::{Company, Contact};
use chrono::{DateTime, Utc};
use serde_json::Value as Json;

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
        "date" | "datetime" => super::super::query::parse_sql_time(&text)
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
