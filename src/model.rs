//! The plain data every layer shares: sides, object kinds, typed field values, observations,
//! decisions, conflict entries and patches. No I/O, no clock reads.
//!
//! Values compare the way a user would: a number read as `"12"` on one side and `12` on the
//! other is the same number, two dates are the same instant, and two texts differ by leading or
//! trailing spaces or by case only where the mapping says to ignore that ([`Compare`]).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// One of the two systems fieldsync keeps in agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Divalto weavy, the CRM.
    Weavy,
    /// Webmecanik Automation, a hosted Mautic.
    Mautic,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Weavy, Side::Mautic];

    pub fn other(self) -> Side {
        match self {
            Side::Weavy => Side::Mautic,
            Side::Mautic => Side::Weavy,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Weavy => "weavy",
            Side::Mautic => "mautic",
        }
    }

    /// A small stable number, used in stored keys.
    pub fn code(self) -> u8 {
        match self {
            Side::Weavy => 0,
            Side::Mautic => 1,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Side {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "weavy" => Ok(Side::Weavy),
            "mautic" | "webmecanik" => Ok(Side::Mautic),
            other => Err(format!(
                "unknown side '{other}': expected 'weavy' or 'mautic'"
            )),
        }
    }
}

/// What an entity is, whatever the side: a company or a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    Company,
    Person,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Company => "company",
            EntityKind::Person => "person",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A table on one side. weavy has three (Tiers, Contact, Entrant), Mautic two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// weavy `customer`: a company ("Client", the Tiers).
    WeavyCustomer,
    /// weavy `customercontact`: a contact of a company ("Client / Contact").
    WeavyContact,
    /// weavy `marketinginbound`: a lead ("Marketing / Entrant").
    WeavyEntrant,
    /// Mautic contact.
    MauticContact,
    /// Mautic company.
    MauticCompany,
}

impl RecordKind {
    pub const ALL: [RecordKind; 5] = [
        RecordKind::WeavyCustomer,
        RecordKind::WeavyContact,
        RecordKind::WeavyEntrant,
        RecordKind::MauticContact,
        RecordKind::MauticCompany,
    ];

    pub fn side(self) -> Side {
        match self {
            RecordKind::WeavyCustomer | RecordKind::WeavyContact | RecordKind::WeavyEntrant => {
                Side::Weavy
            }
            RecordKind::MauticContact | RecordKind::MauticCompany => Side::Mautic,
        }
    }

    pub fn entity_kind(self) -> EntityKind {
        match self {
            RecordKind::WeavyCustomer | RecordKind::MauticCompany => EntityKind::Company,
            _ => EntityKind::Person,
        }
    }

    /// The name the side's API uses: weavy's entity name, Mautic's object.
    pub fn api_name(self) -> &'static str {
        match self {
            RecordKind::WeavyCustomer => "customer",
            RecordKind::WeavyContact => "customercontact",
            RecordKind::WeavyEntrant => "marketinginbound",
            RecordKind::MauticContact => "contact",
            RecordKind::MauticCompany => "company",
        }
    }

    /// The name a user sees in the side's own interface (weavy Studio, Mautic menus).
    pub fn label(self) -> &'static str {
        match self {
            RecordKind::WeavyCustomer => "Client",
            RecordKind::WeavyContact => "Client / Contact",
            RecordKind::WeavyEntrant => "Marketing / Entrant",
            RecordKind::MauticContact => "Contacts",
            RecordKind::MauticCompany => "Companies",
        }
    }

    /// A small stable number, used in stored keys.
    pub fn code(self) -> u8 {
        match self {
            RecordKind::WeavyCustomer => 1,
            RecordKind::WeavyContact => 2,
            RecordKind::WeavyEntrant => 3,
            RecordKind::MauticContact => 4,
            RecordKind::MauticCompany => 5,
        }
    }

    pub fn from_code(code: u8) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The kinds of one side, in a fixed order.
    pub fn of_side(side: Side) -> &'static [RecordKind] {
        match side {
            Side::Weavy => &[
                RecordKind::WeavyCustomer,
                RecordKind::WeavyContact,
                RecordKind::WeavyEntrant,
            ],
            Side::Mautic => &[RecordKind::MauticCompany, RecordKind::MauticContact],
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.side(), self.api_name())
    }
}

impl std::str::FromStr for RecordKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let t = t
            .strip_prefix("weavy ")
            .or(t.strip_prefix("weavy."))
            .unwrap_or(&t);
        Ok(match t {
            "customer" | "weavy_customer" | "tiers" => RecordKind::WeavyCustomer,
            "customercontact" | "weavy_contact" => RecordKind::WeavyContact,
            "marketinginbound" | "weavy_entrant" | "entrant" | "lead" => RecordKind::WeavyEntrant,
            "contact" | "mautic contact" | "mautic.contact" | "mautic_contact" => {
                RecordKind::MauticContact
            }
            "company" | "mautic company" | "mautic.company" | "mautic_company" => {
                RecordKind::MauticCompany
            }
            other => {
                return Err(format!(
                    "unknown object '{other}': expected customer, customercontact, marketinginbound, contact or company"
                ));
            }
        })
    }
}

/// One record on one side: `customercontact` "C0001", Mautic contact "47".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordRef {
    pub kind: RecordKind,
    pub id: String,
}

impl RecordRef {
    pub fn new(kind: RecordKind, id: impl Into<String>) -> Self {
        RecordRef {
            kind,
            id: id.into(),
        }
    }

    pub fn side(&self) -> Side {
        self.kind.side()
    }
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

/// One value per side, indexed by [`Side`] (`targets[Side::Mautic]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerSide<T> {
    pub weavy: T,
    pub mautic: T,
}

impl<T> PerSide<T> {
    /// Each side's value, made by `f`.
    pub fn from_fn(mut f: impl FnMut(Side) -> T) -> Self {
        PerSide {
            weavy: f(Side::Weavy),
            mautic: f(Side::Mautic),
        }
    }
}

impl<T> std::ops::Index<Side> for PerSide<T> {
    type Output = T;

    fn index(&self, side: Side) -> &T {
        match side {
            Side::Weavy => &self.weavy,
            Side::Mautic => &self.mautic,
        }
    }
}

impl<T> std::ops::IndexMut<Side> for PerSide<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        match side {
            Side::Weavy => &mut self.weavy,
            Side::Mautic => &mut self.mautic,
        }
    }
}

/// The canonical field names the engine itself gives a meaning to. A mapping may carry them
/// (the e-mail and the company name are mapped like any field), but never for something else:
/// the configuration refuses that (`Config::check_mappings`).
pub mod engine_fields {
    /// A person's e-mail: how people are matched across the sides.
    pub const EMAIL: &str = "email";
    /// A company's name: how companies are matched with `company_key = "name"`, and what a
    /// new Mautic company needs.
    pub const NAME: &str = "name";
    /// A person's company (the relation): the engine's own field of every person.
    pub const COMPANY: &str = "company";
    /// With `company_key = "idcrm"`: the weavy customer id a Mautic company holds, filled in
    /// by the engine.
    pub const IDCRM: &str = "idcrm";
}

/// fieldsync's own id for the records that are the same thing on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityId(pub u64);

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{}", self.0)
    }
}

/// An entity id as it is written (`E12`): how a person's company travels through the merge
/// and the applier, and how a user names an entity.
impl std::str::FromStr for EntityId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim()
            .strip_prefix(['E', 'e'])
            .and_then(|n| n.parse().ok())
            .map(EntityId)
            .ok_or_else(|| format!("'{s}' is not an entity id (e.g. E12)"))
    }
}

impl EntityId {
    /// The entity a value names (a person's company: `Text("E12")`), if it names one.
    pub fn of_value(v: &Value) -> Option<EntityId> {
        v.as_text()?.parse().ok()
    }
}

/// The type a mapping gives a field; both sides' raw values are read into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    #[default]
    Text,
    Number,
    Boolean,
    Date,
    DateTime,
    List,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::List => "list",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The types a mapping of one type can meet on a side, as a sentence (`check` and `sync` say
/// it when they refuse a mapping).
pub const COMPATIBLE_TYPES: &str = "a field of the mapping's type; a text field that only receives the values (the other side wins); a date-time field for a date mapping; any field fieldsync only reads, when its values read as the mapping's type (a date as a date-time)";

impl FieldType {
    /// Whether a side's field of type `field` can carry this mapping type's values, `Err` with
    /// why not. `written`: the mapping may write the side; `decides`: the side's own values
    /// may win (direction `both`, or this side wins). The rule is [`COMPATIBLE_TYPES`]: what
    /// fieldsync writes must be what the field holds (no text into a number field, no
    /// date-time cut to a date), and a field edited by people both ways must be of the
    /// mapping's type (a text field holding numbers would get `12` where a person typed
    /// `12,0`, and lose what is not a number).
    pub fn fits(self, field: FieldType, written: bool, decides: bool) -> Result<(), String> {
        use FieldType::*;
        let mapping = self;
        let reads = match (mapping, field) {
            (m, f) if m == f => return Ok(()),
            (Text, _) => true,
            (DateTime, Date) => true,
            _ => false,
        };
        match (mapping, field) {
            // Typed values written as text: exact, if people do not edit them there too; text
            // only read: what reads as the type is taken, the rest refused on its record.
            (_, Text) if !(written && decides) => Ok(()),
            (_, Text) => Err(format!(
                "a {mapping} mapping on a text field both ways would write {mapping} values as text and refuse what people type that is not one: map it with direction so that this side only receives, or use a {mapping} field here"
            )),
            (Date, DateTime) => Ok(()),
            (_, _) if !written && reads => Ok(()),
            (_, _) if !written => Err(format!(
                "a {field} field's values cannot be read as {mapping}: set type = \"{field}\" if the other side's field is one, or map another field"
            )),
            (_, _) => Err(format!(
                "fieldsync would write {mapping} values into a {field} field, which cannot hold them: set type = \"{field}\" if the other side's field is one, map another field, or use a direction that never writes this side"
            )),
        }
    }
}

/// A typed field value. `Blank` is "no value": null, an empty or all-blank text, an empty list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Blank,
    Text(String),
    Number(f64),
    Bool(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    List(Vec<String>),
}

/// Why a raw value could not be read as the type its mapping gives it, or was read but is
/// outside what fieldsync will copy to the other side ([`ValueLimits`]). The raw value is
/// shortened and its control characters escaped, so the message is safe to print and log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{raw}' is not a valid {expected}{}", .why.as_ref().map(|w| format!(": {w}")).unwrap_or_default())]
pub struct CoerceError {
    pub raw: String,
    pub expected: FieldType,
    /// Set when the value read as its type but broke a limit.
    pub why: Option<Refusal>,
}

/// What is wrong with a value that reads as its type but must not be copied to the other side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{bytes} bytes, over the {max}-byte limit; shorten it on its side, or raise sync.max_value_bytes"
    )]
    TooLong { bytes: usize, max: usize },
    #[error(
        "it holds the control character {0}; remove it on its side (only tab and line breaks are copied)"
    )]
    ControlCharacter(String),
    #[error("it holds bytes that are not UTF-8 (read as U+FFFD); fix the text on its side")]
    NotUtf8,
    #[error(
        "its magnitude is {MAX_NUMBER:e} or more, beyond what both sides store exactly; fix it on its side"
    )]
    NumberOutOfRange,
    #[error(
        "year {0} is outside {MIN_YEAR}..={MAX_YEAR} (a placeholder or garbage, not a date); fix it on its side"
    )]
    ImplausibleYear(i32),
    #[error("it is not an e-mail address; fix it on its side")]
    NotAnEmail,
}

/// The largest magnitude of a number fieldsync copies: below 2^53, so every integer up to it
/// is exact in both sides' number types, and [`format_number`] prints it without an exponent.
pub const MAX_NUMBER: f64 = 1e15;
/// The years a date fieldsync copies may fall in.
pub const MIN_YEAR: i32 = 1800;
pub const MAX_YEAR: i32 = 2200;

/// Bounds on the values fieldsync copies from one side to the other. A value outside them is
/// refused on its record (reported, never observed, so never written); see
/// [`Value::coerce_within`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueLimits {
    /// The longest text (a list: all its items together), in UTF-8 bytes.
    pub max_text_bytes: usize,
}

impl ValueLimits {
    /// 64 KiB: far above any CRM field (weavy texts are 255 characters, Mautic's 191 or a
    /// 64 KiB `TEXT` for text areas), far below what would hurt the store or a batch.
    pub const DEFAULT: ValueLimits = ValueLimits {
        max_text_bytes: 64 * 1024,
    };
}

impl Default for ValueLimits {
    fn default() -> Self {
        ValueLimits::DEFAULT
    }
}

impl Value {
    /// A text value; blank (empty or whitespace only) text is [`Value::Blank`].
    pub fn text(s: impl Into<String>) -> Value {
        let s = s.into();
        if s.trim().is_empty() {
            Value::Blank
        } else {
            Value::Text(s)
        }
    }

    pub fn is_blank(&self) -> bool {
        match self {
            Value::Blank => true,
            Value::Text(s) => s.trim().is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Number(n) => n.is_nan(),
            _ => false,
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value in the canonical text form used for display, CSV export and the final
    /// tie-break ("the byte-wise smaller value"). Numbers print without a trailing `.0`, dates
    /// as ISO 8601, date-times in UTC with a `Z`, lists joined by `|`.
    pub fn canonical(&self) -> String {
        match self {
            Value::Blank => String::new(),
            Value::Text(s) => s.clone(),
            Value::Number(n) => format_number(*n),
            Value::Bool(b) => b.to_string(),
            Value::Date(d) => d.format("%Y-%m-%d").to_string(),
            Value::DateTime(t) => t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
            Value::List(l) => l.join("|"),
        }
    }

    /// Reads a value into `ty` under the default [`ValueLimits`]. Texts are parsed (`"12"` ->
    /// 12, `"oui"` -> true, `"2024-05-01 10:00:00"` -> a date-time), blanks stay blank; a value
    /// that cannot be read, or breaks a limit, is an error for the caller to report on the
    /// record concerned.
    pub fn coerce(self, ty: FieldType) -> Result<Value, CoerceError> {
        self.coerce_within(ty, &ValueLimits::DEFAULT)
    }

    /// Reads a value into `ty`, then checks it against `limits`: texts no longer than the
    /// limit, with no control character but tab and line breaks and no sign of bytes that
    /// were not UTF-8; numbers below [`MAX_NUMBER`]; dates in [`MIN_YEAR`]..=[`MAX_YEAR`].
    pub fn coerce_within(self, ty: FieldType, limits: &ValueLimits) -> Result<Value, CoerceError> {
        let v = self.coerce_type(ty)?;
        match v.refusal(limits) {
            None => Ok(v),
            Some(why) => Err(CoerceError {
                raw: truncate_for_message(&v.canonical()),
                expected: ty,
                why: Some(why),
            }),
        }
    }

    /// What makes a value unfit to copy, if anything (see [`Value::coerce_within`]).
    pub fn refusal(&self, limits: &ValueLimits) -> Option<Refusal> {
        let text = |s: &str| -> Option<Refusal> {
            if let Some(c) = s
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
            {
                return Some(Refusal::ControlCharacter(c.escape_unicode().to_string()));
            }
            s.contains('\u{fffd}').then_some(Refusal::NotUtf8)
        };
        let too_long = |bytes: usize| {
            (bytes > limits.max_text_bytes).then_some(Refusal::TooLong {
                bytes,
                max: limits.max_text_bytes,
            })
        };
        match self {
            Value::Blank | Value::Bool(_) => None,
            Value::Text(s) => too_long(s.len()).or_else(|| text(s)),
            Value::List(l) => too_long(
                l.iter()
                    .map(|i| i.len() + 1)
                    .sum::<usize>()
                    .saturating_sub(1),
            )
            .or_else(|| l.iter().find_map(|i| text(i))),
            Value::Number(n) => {
                (!n.is_nan() && n.abs() >= MAX_NUMBER).then_some(Refusal::NumberOutOfRange)
            }
            Value::Date(d) => {
                let y = d.year();
                (!plausible_year(y)).then_some(Refusal::ImplausibleYear(y))
            }
            Value::DateTime(t) => {
                let y = t.year();
                (!plausible_year(y)).then_some(Refusal::ImplausibleYear(y))
            }
        }
    }

    /// Reads a value into `ty`, with no limit but the type's own.
    fn coerce_type(self, ty: FieldType) -> Result<Value, CoerceError> {
        if self.is_blank() {
            return Ok(Value::Blank);
        }
        let fail = |v: &Value| CoerceError {
            raw: truncate_for_message(&v.canonical()),
            expected: ty,
            why: None,
        };
        match (ty, self) {
            (FieldType::Text, Value::Text(s)) => Ok(Value::Text(s)),
            (FieldType::Text, Value::List(l)) => Ok(Value::text(l.join("|"))),
            (FieldType::Text, v) => Ok(Value::Text(v.canonical())),
            (FieldType::Number, Value::Number(n)) if n.is_finite() => Ok(Value::Number(n)),
            (FieldType::Number, Value::Text(s)) => match parse_number(&s) {
                Some(n) => Ok(Value::Number(n)),
                None => Err(fail(&Value::Text(s))),
            },
            (FieldType::Number, Value::Bool(b)) => Ok(Value::Number(if b { 1.0 } else { 0.0 })),
            (FieldType::Boolean, Value::Bool(b)) => Ok(Value::Bool(b)),
            (FieldType::Boolean, Value::Number(n)) if n == 0.0 || n == 1.0 => {
                Ok(Value::Bool(n == 1.0))
            }
            (FieldType::Boolean, Value::Text(s)) => match parse_bool(&s) {
                Some(b) => Ok(Value::Bool(b)),
                None => Err(fail(&Value::Text(s))),
            },
            (FieldType::Date, Value::Date(d)) => Ok(Value::Date(d)),
            (FieldType::Date, Value::DateTime(t)) => Ok(Value::Date(t.date_naive())),
            (FieldType::Date, Value::Text(s)) => match read_date(&s) {
                Some(d) => Ok(Value::Date(d)),
                None => match read_datetime(&s) {
                    Some(t) => Ok(Value::Date(t.date_naive())),
                    None => Err(fail(&Value::Text(s))),
                },
            },
            (FieldType::DateTime, Value::DateTime(t)) => Ok(Value::DateTime(t)),
            (FieldType::DateTime, Value::Date(d)) => Ok(Value::DateTime(
                d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
            )),
            (FieldType::DateTime, Value::Text(s)) => match read_datetime(&s) {
                Some(t) => Ok(Value::DateTime(t)),
                None => match read_date(&s) {
                    Some(d) => Ok(Value::DateTime(
                        d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
                    )),
                    None => Err(fail(&Value::Text(s))),
                },
            },
            (FieldType::List, Value::List(l)) => Ok(Value::List(l)),
            (FieldType::List, Value::Text(s)) => {
                let items: Vec<String> = s
                    .split(['|', ','])
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect();
                Ok(if items.is_empty() {
                    Value::Blank
                } else {
                    Value::List(items)
                })
            }
            (_, v) => Err(fail(&v)),
        }
    }

    /// A rank per variant so that values of different types still have a total order.
    fn type_rank(&self) -> u8 {
        match self {
            Value::Blank => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::Date(_) => 3,
            Value::DateTime(_) => 4,
            Value::Text(_) => 5,
            Value::List(_) => 6,
        }
    }

    /// The total order used by the last tie-break: byte-wise on the canonical form, so the
    /// outcome of a tie never depends on which side was read first.
    pub fn cmp_bytes(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Text(a), Value::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
            _ => self
                .canonical()
                .as_bytes()
                .cmp(other.canonical().as_bytes())
                .then(self.type_rank().cmp(&other.type_rank()))
                .then_with(|| match (self, other) {
                    (Value::Number(a), Value::Number(b)) => a.total_cmp(b),
                    _ => Ordering::Equal,
                }),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Blank => f.write_str("(blank)"),
            Value::Text(s) => write!(f, "{s:?}"),
            other => f.write_str(&other.canonical()),
        }
    }
}

/// Formats a number the way a user writes it: `12`, not `12.0`; `0.5`.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A value shortened for a message, its control characters escaped (a value is never
/// allowed to move the cursor of the terminal or forge a log line).
fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = s
        .chars()
        .take(MAX)
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    if s.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

/// Parses a number written as a user or an API would: `"12"`, `" 12.50 "`, `"12,5"`.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() || t.len() > 64 {
        return None;
    }
    let normalised;
    let t = if t.contains(',') && !t.contains('.') {
        normalised = t.replace(',', ".");
        normalised.as_str()
    } else {
        t
    };
    // Only plain decimal notation: "inf", "NaN" and hex are not numbers a CRM holds.
    if !t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "oui" | "vrai" | "on" => Some(true),
        "0" | "false" | "no" | "non" | "faux" | "off" => Some(false),
        _ => None,
    }
}

/// Parses a calendar date: `2024-05-01` or `01/05/2024` (French order).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    read_date(s).filter(|d| plausible_year(d.year_ce().1 as i32))
}

/// [`parse_date`] without the plausibility check (coercion reports the year instead).
fn read_date(s: &str) -> Option<NaiveDate> {
    let t = s.trim();
    NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(t, "%d/%m/%Y"))
        .ok()
}

/// Parses an instant: RFC 3339 / ISO 8601 with an offset, or a zone-less
/// `YYYY-MM-DD HH:MM:SS` / `YYYY-MM-DDTHH:MM:SS` taken as UTC (callers that know the zone
/// convert before calling).
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    read_datetime(s).filter(|t| plausible_year(t.naive_utc().date().year_ce().1 as i32))
}

/// [`parse_datetime`] without the plausibility check (coercion reports the year instead).
fn read_datetime(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim();
    let parsed = DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%z")
                .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%z"))
                .map(|d| d.with_timezone(&Utc))
                .ok()
        })
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
            ]
            .iter()
            .find_map(|f| chrono::NaiveDateTime::parse_from_str(t, f).ok())
            .map(|n| n.and_utc())
        })?;
    Some(parsed)
}

use chrono::Datelike;

/// Years a CRM date can hold. Year 0 and year 9999 are placeholders or garbage, not dates to
/// copy into the other side.
fn plausible_year(y: i32) -> bool {
    (MIN_YEAR..=MAX_YEAR).contains(&y)
}

/// What the sides keep of a date-time or a number: two values the coarser side cannot tell
/// apart are one value. Without it, a value a side keeps less precisely than it was written
/// (Mautic 5 drops a date-time's seconds; a Mautic number field without decimals shows an
/// integer; weavy keeps a zone-less wall time, the same for both passes of an autumn hour)
/// would differ from its base at every cycle and be written again, and again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Precision {
    /// Date-times are kept to the minute.
    pub minutes: bool,
    /// Numbers are kept to this many decimals; 0 means an integer, cut towards zero as PHP's
    /// `(int)` does. `None`: exactly.
    pub decimals: Option<u8>,
    /// Date-times are kept as a wall time of this zone, with no offset: two instants that
    /// read the same there are one value.
    pub wall_zone: Option<chrono_tz::Tz>,
}

impl Precision {
    pub const EXACT: Precision = Precision {
        minutes: false,
        decimals: None,
        wall_zone: None,
    };

    /// What both of two sides keep: the coarser of each.
    pub fn coarsest(self, other: Precision) -> Precision {
        Precision {
            minutes: self.minutes || other.minutes,
            decimals: match (self.decimals, other.decimals) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            wall_zone: self.wall_zone.or(other.wall_zone),
        }
    }

    fn number_eq(&self, x: f64, y: f64) -> bool {
        match self.decimals {
            None => x == y,
            Some(0) => x.trunc() == y.trunc(),
            Some(d) => {
                let p = 10f64.powi(i32::from(d));
                (x * p).round() == (y * p).round()
            }
        }
    }

    fn instant_eq(&self, x: &DateTime<Utc>, y: &DateTime<Utc>) -> bool {
        use chrono::{DurationRound, TimeDelta};
        if !self.minutes && self.wall_zone.is_none() {
            return x == y;
        }
        let cut = |t: &DateTime<Utc>| -> DateTime<Utc> {
            let unit = if self.minutes {
                TimeDelta::minutes(1)
            } else {
                TimeDelta::seconds(1)
            };
            t.duration_trunc(unit).unwrap_or(*t)
        };
        let (a, b) = (cut(x), cut(y));
        match self.wall_zone {
            Some(tz) => a.with_timezone(&tz).naive_local() == b.with_timezone(&tz).naive_local(),
            None => a == b,
        }
    }
}

/// How two values of a field compare: what the mapping says to ignore, and the precision
/// the sides keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compare {
    /// Leading and trailing spaces do not make two values different.
    pub trim: bool,
    /// Case does not make two values different (Unicode-aware: "ÉMILE" == "émile").
    pub ignore_case: bool,
    /// What the sides keep of date-times and numbers.
    pub precision: Precision,
}

impl Compare {
    pub const EXACT: Compare = Compare {
        trim: false,
        ignore_case: false,
        precision: Precision::EXACT,
    };

    /// Whether `a` and `b` are the same value under these rules. Numbers compare as numbers,
    /// dates and date-times as instants (to the second, or as [`Precision`] says), blanks
    /// equal blanks. Allocation-free.
    pub fn eq(&self, a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Text(x), Value::Text(y)) => self.eq_text(x, y),
            (Value::Number(x), Value::Number(y)) => self.precision.number_eq(*x, *y),
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Date(x), Value::Date(y)) => x == y,
            (Value::DateTime(x), Value::DateTime(y)) => self.precision.instant_eq(x, y),
            (Value::Date(x), Value::DateTime(y)) | (Value::DateTime(y), Value::Date(x)) => {
                y.date_naive() == *x && y.time() == chrono::NaiveTime::MIN
            }
            (Value::List(x), Value::List(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| self.eq_text(p, q))
            }
            (x, y) => x.is_blank() && y.is_blank(),
        }
    }

    fn eq_text(&self, x: &str, y: &str) -> bool {
        let (x, y) = if self.trim {
            (x.trim(), y.trim())
        } else {
            (x, y)
        };
        if self.ignore_case {
            x.chars()
                .flat_map(char::to_lowercase)
                .eq(y.chars().flat_map(char::to_lowercase))
        } else {
            x == y
        }
    }
}

/// A value of one mapped field of one record, as read from its side, with the time the side
/// says the record changed (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub value: Value,
    pub at: DateTime<Utc>,
}

impl Observation {
    pub fn new(value: Value, at: DateTime<Utc>) -> Self {
        Observation { value, at }
    }
}

/// A mapping's direction for one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Direction {
    /// Both ways: the newest change wins ("Sync both ways").
    #[default]
    #[serde(rename = "both", alias = "Sync both ways")]
    Both,
    /// weavy's value is copied to Mautic, never the reverse ("Sync only to Mautic").
    #[serde(rename = "weavy_wins", alias = "Sync only to Mautic")]
    WeavyWins,
    /// Mautic's value is copied to weavy, never the reverse ("Sync only to the integration").
    #[serde(rename = "mautic_wins", alias = "Sync only to the integration")]
    MauticWins,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Both => "both",
            Direction::WeavyWins => "weavy_wins",
            Direction::MauticWins => "mautic_wins",
        }
    }

    /// Whether fieldsync may write this field to `side`.
    pub fn may_write(self, side: Side) -> bool {
        match self {
            Direction::Both => true,
            Direction::WeavyWins => side == Side::Mautic,
            Direction::MauticWins => side == Side::Weavy,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        match t.to_ascii_lowercase().as_str() {
            "both" | "sync both ways" => Ok(Direction::Both),
            "weavy_wins" | "sync only to mautic" => Ok(Direction::WeavyWins),
            "mautic_wins" | "sync only to the integration" => Ok(Direction::MauticWins),
            _ => Err(format!(
                "unknown direction '{t}': expected both, weavy_wins or mautic_wins \
                 (or Webmecanik's 'Sync both ways', 'Sync only to Mautic', 'Sync only to the integration')"
            )),
        }
    }
}

/// Everything the merge needs to know about one mapped field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldPolicy {
    pub direction: Direction,
    /// A blank winner may overwrite a non-blank value.
    pub overwrite_with_blank: bool,
    pub compare: Compare,
    /// Who wins when both sides changed within `tie_window_micros` of each other.
    /// `None`: no preference, the byte-wise smaller value wins.
    pub preferred: Option<Side>,
    /// Two change times this close (in microseconds) are a tie.
    pub tie_window_micros: i64,
}

impl Default for FieldPolicy {
    fn default() -> Self {
        FieldPolicy {
            direction: Direction::Both,
            overwrite_with_blank: false,
            compare: Compare::EXACT,
            preferred: Some(Side::Weavy),
            tie_window_micros: 1_000_000,
        }
    }
}

/// The rule that decided a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// Both sides hold the same value.
    Agree,
    /// Only weavy changed since the base: it wins whatever the clocks say.
    OnlyWeavyChanged,
    /// Only Mautic changed since the base: it wins whatever the clocks say.
    OnlyMauticChanged,
    /// Both changed: the newer change wins.
    NewerWins,
    /// Both changed at the same time (within the tie window): the preferred side wins.
    TiePreferredSide,
    /// Both changed at the same time and no side is preferred: the byte-wise smaller value wins.
    TieSmallerValue,
    /// The mapping's direction is weavy_wins.
    WeavyPriority,
    /// The mapping's direction is mautic_wins.
    MauticPriority,
    /// The winner was blank and the mapping does not allow a blank to overwrite a value.
    BlankKept,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::Agree,
        Rule::OnlyWeavyChanged,
        Rule::OnlyMauticChanged,
        Rule::NewerWins,
        Rule::TiePreferredSide,
        Rule::TieSmallerValue,
        Rule::WeavyPriority,
        Rule::MauticPriority,
        Rule::BlankKept,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Agree => "agree",
            Rule::OnlyWeavyChanged => "only_weavy_changed",
            Rule::OnlyMauticChanged => "only_mautic_changed",
            Rule::NewerWins => "newer_wins",
            Rule::TiePreferredSide => "tie_preferred_side",
            Rule::TieSmallerValue => "tie_smaller_value",
            Rule::WeavyPriority => "weavy_priority",
            Rule::MauticPriority => "mautic_priority",
            Rule::BlankKept => "blank_kept",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The merge result for one (entity, field). The target is always one side's current value
/// (or the agreed value), so a decision carries sides, not copies of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub rule: Rule,
    /// Whose value both sides must hold; `None` when they already agree.
    pub winner: Option<Side>,
    /// The side to write the winner's value to, if any.
    pub write: Option<Side>,
    /// The sides agree: the base becomes their value.
    pub set_base: bool,
    /// Two different values met and a rule chose one: the decision goes to the conflict log.
    pub conflict: bool,
}

/// Why an entry is in the conflict log: a merge rule, or an event of identity or of the applier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictRule {
    /// A merge rule chose between two different values.
    Merge(Rule),
    /// Several records of one side share an e-mail or company key; one was chosen.
    Duplicate,
    /// A side refused a write permanently.
    RejectedWrite,
    /// An e-mail write to Mautic was refused because another Mautic contact holds it.
    EmailCollision,
    /// A write of another Mautic unique identifier field (a phone, a SIRET...) was refused
    /// because another Mautic contact holds the value, or another write gives it to another
    /// person.
    UniqueCollision,
    /// A linked record answered 404 and could not be found again.
    RecordGone,
    /// A link moved: a lead converted into a contact, a Mautic merge.
    Relinked,
}

impl ConflictRule {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictRule::Merge(r) => r.as_str(),
            ConflictRule::Duplicate => "duplicate",
            ConflictRule::RejectedWrite => "rejected_write",
            ConflictRule::EmailCollision => "email_collision",
            ConflictRule::UniqueCollision => "unique_collision",
            ConflictRule::RecordGone => "record_gone",
            ConflictRule::Relinked => "relinked",
        }
    }

    pub fn all() -> Vec<ConflictRule> {
        let mut v: Vec<ConflictRule> = Rule::ALL
            .iter()
            .filter(|r| **r != Rule::Agree)
            .map(|r| ConflictRule::Merge(*r))
            .collect();
        v.extend([
            ConflictRule::Duplicate,
            ConflictRule::RejectedWrite,
            ConflictRule::EmailCollision,
            ConflictRule::UniqueCollision,
            ConflictRule::RecordGone,
            ConflictRule::Relinked,
        ]);
        v
    }
}

impl fmt::Display for ConflictRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ConflictRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        ConflictRule::all()
            .into_iter()
            .find(|r| r.as_str() == t)
            .ok_or_else(|| {
                let names: Vec<&str> = ConflictRule::all().iter().map(|r| r.as_str()).collect();
                format!("unknown rule '{t}': expected one of {}", names.join(", "))
            })
    }
}

/// One side's value in a conflict entry, with its change time when known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideValue {
    pub record: Option<RecordRef>,
    pub value: Value,
    pub at: Option<DateTime<Utc>>,
}

/// An append-only record of a decision where two different values met and a rule chose one,
/// or of an identity or applier event. The losing value is kept here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictEntry {
    /// When fieldsync decided (its own clock, UTC).
    pub at: DateTime<Utc>,
    pub cycle: u64,
    pub entity: EntityId,
    pub entity_kind: EntityKind,
    /// The canonical field name; empty for record-level events.
    pub field: String,
    pub rule: ConflictRule,
    /// Whose value won, when a value won.
    pub winner: Option<Side>,
    pub weavy: SideValue,
    pub mautic: SideValue,
    pub base: Option<Value>,
    /// Human-readable detail: the rejection message, the duplicate records, the new link.
    pub note: String,
}

/// One field write of a patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldWrite {
    /// The canonical field name.
    pub field: String,
    /// What the side held when the patch was made.
    pub old: Value,
    pub new: Value,
    pub rule: Rule,
}

/// What a patch does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PatchOp {
    /// Update the linked record.
    Update,
    /// Create the record. weavy inserts carry the caller-chosen id, so a retried insert finds
    /// the record instead of duplicating it; Mautic finds an existing contact by e-mail itself.
    Insert,
}

/// The minimal set of field writes for one record on one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patch {
    pub entity: EntityId,
    pub record: RecordRef,
    pub op: PatchOp,
    pub writes: Vec<FieldWrite>,
    /// The cycle that made it.
    pub cycle: u64,
    /// Failed attempts so far (transient or permanent).
    pub attempts: u32,
}

/// What fieldsync knows of one record: its current value of every mapped field (the join of
/// its observations) and what identity needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordState {
    /// The side's modification time at the last sighting.
    pub modified_at: Option<DateTime<Utc>>,
    /// The cycle whose sighting last changed it (a sighting that changes nothing is not
    /// stored again).
    pub last_cycle: u64,
    /// The normalised e-mail (people), if valid.
    pub email: Option<String>,
    /// The normalised company key (companies), if any.
    pub company_key: Option<String>,
    /// The normalised company name (companies), for matching a Mautic contact's company.
    pub company_name: Option<String>,
    /// The record's company on its own side: a weavy contact's `customer_ID`, a Mautic
    /// contact's primary company id.
    pub company_ref: Option<String>,
    /// The side answered 404 for it and it could not be found again.
    pub gone: bool,
    /// Current value of each mapped field, by canonical name.
    pub fields: std::collections::BTreeMap<String, Observation>,
}

/// Records that are the same thing on both sides, with the last value of each field known to
/// be on both (the base).
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub id: EntityId,
    pub kind: EntityKind,
    pub weavy: Option<RecordRef>,
    pub mautic: Option<RecordRef>,
    /// By canonical field name. Also holds, under names no mapping can take, the values a
    /// side refused (see [`Entity::refused`]).
    pub bases: std::collections::BTreeMap<String, Value>,
    pub created_cycle: u64,
}

/// The start of the names under which an entity keeps the values a side refused: a control
/// character, which no mapping name holds (config names are letters, digits and `_`).
const REFUSED_PREFIX: &str = "\u{1}refused/";

fn refused_key(side: Side, field: &str) -> String {
    format!("{REFUSED_PREFIX}{}/{field}", side.as_str())
}

impl Entity {
    pub fn new(id: EntityId, kind: EntityKind, cycle: u64) -> Self {
        Entity {
            id,
            kind,
            weavy: None,
            mautic: None,
            bases: Default::default(),
            created_cycle: cycle,
        }
    }

    pub fn record(&self, side: Side) -> Option<&RecordRef> {
        match side {
            Side::Weavy => self.weavy.as_ref(),
            Side::Mautic => self.mautic.as_ref(),
        }
    }

    pub fn record_mut(&mut self, side: Side) -> &mut Option<RecordRef> {
        match side {
            Side::Weavy => &mut self.weavy,
            Side::Mautic => &mut self.mautic,
        }
    }

    /// The value of `field` that `side` refused (a unique identifier another contact holds,
    /// a value it did not keep): it is not sent there again until the value to send changes,
    /// so a refusal is written and logged once, not at every merge.
    pub fn refused(&self, side: Side, field: &str) -> Option<&Value> {
        self.bases.get(&refused_key(side, field))
    }

    /// The entry that records a refusal, as bases are set ([`Entity::bases`]).
    pub fn refusal(side: Side, field: &str, value: Value) -> (String, Value) {
        (refused_key(side, field), value)
    }

    /// Forgets the refusals of `field` (a value of it is now on both sides); whether there
    /// were any.
    pub fn clear_refused(&mut self, field: &str) -> bool {
        let mut any = false;
        for side in Side::BOTH {
            any |= self.bases.remove(&refused_key(side, field)).is_some();
        }
        any
    }

    /// Whether a base name is a refusal's, not a field's.
    pub fn is_refusal_name(name: &str) -> bool {
        name.starts_with(REFUSED_PREFIX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_per_side_pair_is_indexed_by_its_side() {
        let mut p = PerSide::from_fn(|s| s.as_str().len());
        assert_eq!((p[Side::Weavy], p[Side::Mautic]), (5, 6));
        p[Side::Mautic] += 1;
        assert_eq!(p.mautic, 7);
        assert_eq!(
            PerSide::<u8>::default(),
            PerSide {
                weavy: 0,
                mautic: 0
            }
        );
    }

    #[test]
    fn an_entity_id_reads_as_it_is_written() {
        assert_eq!("E12".parse::<EntityId>(), Ok(EntityId(12)));
        assert_eq!(
            EntityId(12).to_string().parse::<EntityId>(),
            Ok(EntityId(12))
        );
        assert!("12".parse::<EntityId>().is_err());
        assert!("Ex".parse::<EntityId>().is_err());
        assert_eq!(EntityId::of_value(&Value::text("E7")), Some(EntityId(7)));
        assert_eq!(EntityId::of_value(&Value::Number(7.0)), None);
    }

    #[test]
    fn a_mapping_fits_a_field_that_holds_its_values() {
        use FieldType::*;
        // written, decides
        assert!(Number.fits(Number, true, true).is_ok());
        assert!(DateTime.fits(Text, true, false).is_ok(), "received as text");
        assert!(DateTime.fits(Text, false, true).is_ok(), "text only read");
        assert!(Number.fits(Text, true, true).is_err(), "text both ways");
        assert!(Text.fits(Number, true, true).is_err(), "text into a number");
        assert!(
            Text.fits(Number, false, true).is_ok(),
            "a number read as text"
        );
        assert!(Date.fits(DateTime, true, true).is_ok());
        assert!(DateTime.fits(Date, true, true).is_err(), "a date-time cut");
        assert!(
            DateTime.fits(Date, false, true).is_ok(),
            "a date read as a date-time"
        );
        assert!(Boolean.fits(Number, false, true).is_err());
        assert!(List.fits(Text, true, false).is_ok());
    }

    #[test]
    fn numbers_compare_as_numbers() {
        let a = Value::text("12").coerce(FieldType::Number).unwrap();
        let b = Value::Number(12.0);
        assert!(Compare::EXACT.eq(&a, &b));
        assert!(!Compare::EXACT.eq(&a, &Value::Number(12.5)));
        assert_eq!(
            Value::text("12,5").coerce(FieldType::Number).unwrap(),
            Value::Number(12.5)
        );
        assert!(Value::text("douze").coerce(FieldType::Number).is_err());
        assert!(Value::text("inf").coerce(FieldType::Number).is_err());
    }

    #[test]
    fn trim_and_case_only_where_asked() {
        let a = Value::text(" Jean ");
        let b = Value::text("Jean");
        assert!(!Compare::EXACT.eq(&a, &b));
        let trim = Compare {
            trim: true,
            ..Compare::EXACT
        };
        assert!(trim.eq(&a, &b));
        assert!(!trim.eq(&Value::text("ÉMILE"), &Value::text("émile")));
        let both = Compare {
            trim: true,
            ignore_case: true,
            ..Compare::EXACT
        };
        assert!(both.eq(&Value::text(" ÉMILE"), &Value::text("émile")));
    }

    #[test]
    fn values_compare_at_the_precision_the_sides_keep() {
        let t = |s: &str| Value::DateTime(s.parse().unwrap());
        let at = |precision: Precision| Compare {
            precision,
            ..Compare::EXACT
        };
        let minutes = at(Precision {
            minutes: true,
            ..Precision::EXACT
        });
        assert!(minutes.eq(&t("2024-05-01T10:00:35Z"), &t("2024-05-01T10:00:00Z")));
        assert!(!minutes.eq(&t("2024-05-01T10:00:35Z"), &t("2024-05-01T10:01:00Z")));
        assert!(!Compare::EXACT.eq(&t("2024-05-01T10:00:35Z"), &t("2024-05-01T10:00:00Z")));
        // The two passes of Paris' 27 October 2024 02:30 are one wall time.
        let paris = at(Precision {
            wall_zone: Some(chrono_tz::Europe::Paris),
            ..Precision::EXACT
        });
        assert!(paris.eq(&t("2024-10-27T00:30:00Z"), &t("2024-10-27T01:30:00Z")));
        assert!(!paris.eq(&t("2024-10-27T00:30:00Z"), &t("2024-10-27T00:31:00Z")));
        let integers = at(Precision {
            decimals: Some(0),
            ..Precision::EXACT
        });
        assert!(integers.eq(&Value::Number(3.7), &Value::Number(3.0)));
        assert!(integers.eq(&Value::Number(-3.7), &Value::Number(-3.0)));
        assert!(!integers.eq(&Value::Number(3.7), &Value::Number(4.0)));
        let cents = at(Precision {
            decimals: Some(2),
            ..Precision::EXACT
        });
        assert!(cents.eq(&Value::Number(2.501), &Value::Number(2.5)));
        assert!(!cents.eq(&Value::Number(2.51), &Value::Number(2.5)));
        let both = Precision {
            minutes: true,
            ..Precision::EXACT
        }
        .coarsest(Precision {
            decimals: Some(2),
            ..Precision::EXACT
        });
        assert!(both.minutes && both.decimals == Some(2));
    }

    #[test]
    fn dates_compare_as_instants() {
        let a = Value::text("2024-05-01T12:00:00+02:00")
            .coerce(FieldType::DateTime)
            .unwrap();
        let b = Value::text("2024-05-01 10:00:00")
            .coerce(FieldType::DateTime)
            .unwrap();
        assert!(Compare::EXACT.eq(&a, &b));
        let d = Value::text("01/05/2024").coerce(FieldType::Date).unwrap();
        assert_eq!(d, Value::Date(NaiveDate::from_ymd_opt(2024, 5, 1).unwrap()));
    }

    #[test]
    fn implausible_dates_are_refused() {
        assert!(Value::text("0000-01-01").coerce(FieldType::Date).is_err());
        assert!(
            Value::text("9999-12-31 00:00:00")
                .coerce(FieldType::DateTime)
                .is_err()
        );
    }

    #[test]
    fn blank_is_blank_whatever_its_form() {
        assert_eq!(Value::text("   "), Value::Blank);
        assert!(Compare::EXACT.eq(&Value::Blank, &Value::List(vec![])));
        assert_eq!(
            Value::text("  ").coerce(FieldType::Number).unwrap(),
            Value::Blank
        );
    }

    #[test]
    fn webmecanik_direction_labels_are_accepted() {
        for (label, d) in [
            ("Sync both ways", Direction::Both),
            ("Sync only to Mautic", Direction::WeavyWins),
            ("Sync only to the integration", Direction::MauticWins),
            ("weavy_wins", Direction::WeavyWins),
        ] {
            assert_eq!(label.parse::<Direction>().unwrap(), d);
        }
        assert!("sometimes".parse::<Direction>().is_err());
        #[derive(Deserialize)]
        struct T {
            d: Direction,
        }
        let t: T = toml::from_str("d = \"Sync only to the integration\"").unwrap();
        assert_eq!(t.d, Direction::MauticWins);
    }

    #[test]
    fn byte_order_is_total_and_stable() {
        let a = Value::text("Alpha");
        let b = Value::text("alpha");
        assert_eq!(a.cmp_bytes(&b), Ordering::Less);
        assert_eq!(b.cmp_bytes(&a), Ordering::Greater);
        assert_eq!(
            Value::Number(2.0).cmp_bytes(&Value::Number(10.0)),
            Ordering::Greater,
            "canonical text order: \"2\" > \"10\""
        );
    }

    #[test]
    fn record_kinds_round_trip_their_codes() {
        for k in RecordKind::ALL {
            assert_eq!(RecordKind::from_code(k.code()), Some(k));
            assert_eq!(k.api_name().parse::<RecordKind>().unwrap(), k);
        }
    }
}
