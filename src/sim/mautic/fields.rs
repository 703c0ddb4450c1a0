//! The simulator's field catalogue: the contact and company fields a fresh Mautic 5 ships,
//! plus the custom fields a test adds, and how a value sent for a field is read and stored
//! (the rules of Mautic's `RequestTrait`, `CustomFieldsApiControllerTrait` and
//! `LeadModel::setFieldValues`, quirks included).

use super::profile::MauticProfile;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::{Map, Value as Json, json};

/// Which table a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Contact,
    Company,
}

impl Object {
    /// The name Mautic uses in `GET /api/fields/{object}` and in the field's `object` key.
    pub fn api_name(self) -> &'static str {
        match self {
            Object::Contact => "lead",
            Object::Company => "company",
        }
    }

    pub fn from_path(s: &str) -> Option<Object> {
        match s {
            "contact" | "lead" => Some(Object::Contact),
            "company" => Some(Object::Company),
            _ => None,
        }
    }
}

/// One field definition, as `LeadField` holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub id: u32,
    pub alias: String,
    pub label: String,
    /// Mautic's type name: text, email, tel, url, number, boolean, date, datetime, select,
    /// multiselect, lookup, country, region, locale, timezone, textarea, html, time.
    pub field_type: String,
    pub group: String,
    pub object: Object,
    /// The field's place in its object's list (`field_order`; the fixture counts from 1 for
    /// each object, `InstallFixtures/ORM/LeadFieldData.php:33`).
    pub order: u32,
    pub required: bool,
    /// `isUniqueIdentifer`: records are matched on it, and two records may not share it.
    pub unique: bool,
    pub fixed: bool,
    pub short_visible: bool,
    /// `properties` as the API shows it: `[]` or an object (`{"scale": 2}`, `{"list": [...]}`).
    pub properties: Json,
    pub default_value: Option<String>,
    /// `charLengthLimit` (64 unless set, `LeadField.php:93`): a longer value fails the form's
    /// `Length` constraint (`EntityFieldsBuildFormTrait::getFormFields`).
    pub char_limit: Option<usize>,
}

impl FieldDef {
    /// The number of decimals a number field keeps in answers: none means the value is shown
    /// as an integer (`CustomFieldsApiControllerTrait::fixNumbers`: `empty($properties['scale'])
    /// ? (int) $value : (float) $value`).
    pub fn scale(&self) -> Option<u32> {
        self.properties
            .get("scale")
            .and_then(|s| {
                s.as_u64()
                    .or_else(|| s.as_str().and_then(|t| t.parse().ok()))
            })
            .filter(|s| *s > 0)
            .map(|s| s as u32)
    }

    /// The options of a select or multiselect field, when it has a list.
    fn choices(&self) -> Option<Vec<String>> {
        let list = self.properties.get("list")?.as_array()?;
        Some(
            list.iter()
                .filter_map(|o| match o {
                    Json::String(s) => Some(s.clone()),
                    other => other.get("value").and_then(Json::as_str).map(str::to_owned),
                })
                .collect(),
        )
    }
}

/// The type names Mautic knows.
pub const FIELD_TYPES: [&str; 18] = [
    "text",
    "textarea",
    "email",
    "tel",
    "url",
    "number",
    "boolean",
    "date",
    "datetime",
    "time",
    "select",
    "multiselect",
    "lookup",
    "country",
    "region",
    "locale",
    "timezone",
    "html",
];

/// The field groups of each object, in Mautic's display order (`LeadModel` and
/// `CompanyModel::organizeFieldsByGroup`).
pub fn groups(object: Object) -> &'static [&'static str] {
    match object {
        Object::Contact => &["core", "social", "personal", "professional"],
        Object::Company => &["core", "professional", "other"],
    }
}

/// A field a fresh install ships (`FieldModel::$coreFields` and `$coreCompanyFields`, through
/// `InstallFixtures/ORM/LeadFieldData.php`).
struct Shipped {
    alias: &'static str,
    label: &'static str,
    field_type: &'static str,
    group: &'static str,
    fixed: bool,
    /// `required` and `unique` together: only `companyname` is both, only `email` unique.
    key: bool,
    short: bool,
}

const fn f(
    alias: &'static str,
    label: &'static str,
    field_type: &'static str,
    group: &'static str,
    fixed: bool,
) -> Shipped {
    Shipped {
        alias,
        label,
        field_type,
        group,
        fixed,
        key: false,
        short: false,
    }
}

/// The 28 contact fields of a fresh Mautic 5.1, in install order (`FieldModel.php:48-215`).
/// `linkedin`'s label is the untranslated key: `fixtures.ini` has no entry for it
/// (mautic/mautic#13096).
const CONTACT_FIELDS: [Shipped; 28] = [
    f("title", "Title", "lookup", "core", true),
    Shipped {
        short: true,
        ..f("firstname", "First Name", "text", "core", true)
    },
    Shipped {
        short: true,
        ..f("lastname", "Last Name", "text", "core", true)
    },
    f("company", "Primary company", "text", "core", true),
    f("position", "Position", "text", "core", true),
    Shipped {
        key: true,
        short: true,
        ..f("email", "Email", "email", "core", true)
    },
    f("mobile", "Mobile", "tel", "core", true),
    f("phone", "Phone", "tel", "core", true),
    f("points", "Points", "number", "core", true),
    f("fax", "Fax", "tel", "core", false),
    f("address1", "Address Line 1", "text", "core", true),
    f("address2", "Address Line 2", "text", "core", true),
    f("city", "City", "text", "core", true),
    f("state", "State", "region", "core", true),
    f("zipcode", "Zip Code", "text", "core", true),
    f("country", "Country", "country", "core", true),
    f(
        "preferred_locale",
        "Preferred Locale",
        "locale",
        "core",
        true,
    ),
    f("timezone", "Preferred Timezone", "timezone", "core", true),
    f("last_active", "Date Last Active", "datetime", "core", true),
    f(
        "attribution_date",
        "Attribution Date",
        "datetime",
        "core",
        true,
    ),
    f("attribution", "Attribution", "number", "core", true),
    f("website", "Website", "url", "core", false),
    f("facebook", "Facebook", "text", "social", false),
    f("foursquare", "Foursquare", "text", "social", false),
    f("instagram", "Instagram", "text", "social", false),
    f(
        "linkedin",
        "mautic.lead.field.linkedin",
        "text",
        "social",
        false,
    ),
    f("skype", "Skype", "text", "social", false),
    f("twitter", "Twitter", "text", "social", false),
];

/// The 15 company fields of a fresh Mautic 5.1, in install order (`FieldModel.php:217-477`).
const COMPANY_FIELDS: [Shipped; 15] = [
    f("companyaddress1", "Address 1", "text", "core", true),
    f("companyaddress2", "Address 2", "text", "core", true),
    f("companyemail", "Company Email", "email", "core", true),
    f("companyphone", "Phone", "tel", "core", true),
    f("companycity", "City", "text", "core", true),
    f("companystate", "State", "region", "core", true),
    f("companyzipcode", "Zip Code", "text", "core", true),
    f("companycountry", "Country", "country", "core", true),
    Shipped {
        key: true,
        ..f("companyname", "Company Name", "text", "core", true)
    },
    f("companywebsite", "Website", "url", "core", true),
    f(
        "companynumber_of_employees",
        "Number of Employees",
        "number",
        "professional",
        false,
    ),
    f("companyfax", "Fax", "tel", "professional", false),
    f(
        "companyannual_revenue",
        "Annual Revenue",
        "number",
        "professional",
        false,
    ),
    f(
        "companyindustry",
        "Industry",
        "select",
        "professional",
        true,
    ),
    f(
        "companydescription",
        "Description",
        "text",
        "professional",
        true,
    ),
];

/// The industries of `companyindustry`, in Mautic's order.
const INDUSTRIES: [&str; 41] = [
    "Aerospace & Defense",
    "Agriculture",
    "Apparel",
    "Automotive & Assembly",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consumer Packaged Goods",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Metals & Mining",
    "Not for Profit",
    "Oil & Gas",
    "Packaging & Paper",
    "Private Equity & Principal Investors",
    "Recreation",
    "Real Estate",
    "Retail",
    "Semiconductors",
    "Shipping",
    "Social Sector",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
];

/// The `properties` and default of a shipped field (`FieldModel::$coreFields`).
fn shipped_properties(alias: &str) -> (Json, Option<String>) {
    match alias {
        "title" => (json!({"list": ["Mr", "Mrs", "Miss"]}), None),
        "points" => (json!([]), Some("0".into())),
        "attribution" | "companyannual_revenue" => (json!({"roundmode": 4, "scale": 2}), None),
        "companynumber_of_employees" => (json!({"roundmode": 4, "scale": 0}), None),
        "companyindustry" => (
            json!({"list": INDUSTRIES.iter().map(|i| json!({"label": i, "value": i})).collect::<Vec<_>>()}),
            None,
        ),
        _ => (json!([]), None),
    }
}

/// How a custom field is made: what an admin sets in Mautic's field form besides the alias
/// and the type.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomField {
    /// "Is unique identifier".
    pub unique: bool,
    /// A number field's decimals; none: the API shows it as an integer.
    pub scale: Option<u32>,
    /// A select's options.
    pub choices: Option<Vec<String>>,
    /// The longest value (64 unless said; `None`: no limit).
    pub char_limit: Option<usize>,
}

impl CustomField {
    /// What the form gives when nothing is changed: not unique, no decimals, 64 characters.
    pub fn standard() -> Self {
        CustomField {
            char_limit: Some(DEFAULT_CHAR_LIMIT),
            ..CustomField::default()
        }
    }
}

/// `LeadField::$charLengthLimit`'s default.
pub const DEFAULT_CHAR_LIMIT: usize = 64;

/// Every field of both objects.
#[derive(Debug, Clone)]
pub struct Catalog {
    fields: Vec<FieldDef>,
}

impl Default for Catalog {
    fn default() -> Self {
        let mut c = Catalog { fields: Vec::new() };
        for (object, shipped) in [
            (Object::Contact, &CONTACT_FIELDS[..]),
            (Object::Company, &COMPANY_FIELDS[..]),
        ] {
            for s in shipped {
                let (properties, default_value) = shipped_properties(s.alias);
                c.push(FieldDef {
                    id: 0,
                    alias: s.alias.to_owned(),
                    label: s.label.to_owned(),
                    field_type: s.field_type.to_owned(),
                    group: s.group.to_owned(),
                    object,
                    order: 0,
                    required: s.key && object == Object::Company,
                    unique: s.key,
                    fixed: s.fixed,
                    short_visible: s.short,
                    properties,
                    default_value,
                    char_limit: Some(DEFAULT_CHAR_LIMIT),
                });
            }
        }
        c
    }
}

impl Catalog {
    /// Adds a field with the next id, last in its object's order.
    fn push(&mut self, mut def: FieldDef) {
        def.id = self.fields.iter().map(|f| f.id).max().unwrap_or(0) + 1;
        def.order = self.of(def.object).map(|f| f.order).max().unwrap_or(0) + 1;
        self.fields
            .retain(|f| !(f.object == def.object && f.alias == def.alias));
        self.fields.push(def);
    }

    /// Adds (or redefines) a custom field, in the `core` group as Mautic does by default, last
    /// in its object's list: an admin's field, so `GET /api/fields/...` shows it at once.
    ///
    /// # Panics
    /// On a type Mautic does not have (a typo in a test).
    pub fn add_custom(&mut self, object: Object, alias: &str, field_type: &str, how: CustomField) {
        assert!(
            FIELD_TYPES.contains(&field_type),
            "Mautic has no field type '{field_type}' (expected one of {FIELD_TYPES:?})"
        );
        let mut properties = Map::new();
        if let Some(scale) = how.scale {
            properties.insert("roundmode".into(), json!(4));
            properties.insert("scale".into(), json!(scale));
        }
        if field_type == "boolean" {
            properties.insert("no".into(), json!("No"));
            properties.insert("yes".into(), json!("Yes"));
        }
        if let Some(choices) = &how.choices {
            properties.insert(
                "list".into(),
                Json::Array(
                    choices
                        .iter()
                        .map(|c| json!({"label": c, "value": c}))
                        .collect(),
                ),
            );
        }
        self.push(FieldDef {
            id: 0,
            alias: alias.to_owned(),
            label: alias.replace('_', " "),
            field_type: field_type.to_owned(),
            group: "core".into(),
            object,
            order: 0,
            required: false,
            unique: how.unique,
            fixed: false,
            short_visible: false,
            properties: if properties.is_empty() {
                json!([])
            } else {
                Json::Object(properties)
            },
            default_value: None,
            char_limit: how.char_limit,
        });
    }

    /// Flags a field as a unique identifier or not (the admin's "Is unique identifier").
    pub fn set_unique(&mut self, object: Object, alias: &str, unique: bool) -> bool {
        match self
            .fields
            .iter_mut()
            .find(|f| f.object == object && f.alias == alias)
        {
            Some(f) => {
                f.unique = unique;
                true
            }
            None => false,
        }
    }

    /// An object's fields in `field_order`.
    pub fn of(&self, object: Object) -> impl Iterator<Item = &FieldDef> {
        let mut defs: Vec<&FieldDef> = self.fields.iter().filter(|f| f.object == object).collect();
        defs.sort_by_key(|f| (f.order, f.id));
        defs.into_iter()
    }

    pub fn get(&self, object: Object, alias: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.object == object && f.alias == alias)
    }

    /// The object's unique identifier fields, in order.
    pub fn unique_fields(&self, object: Object) -> Vec<&FieldDef> {
        self.of(object).filter(|f| f.unique).collect()
    }

    /// One field as the API shows it (`LeadField::loadApiMetadata` under `FormEntity`'s:
    /// publish details first). Shipped fields have no creation date: the install fixture
    /// persists them without `setTimestamps`.
    fn field_json(f: &FieldDef) -> Json {
        json!({
            "isPublished": true,
            "dateAdded": null,
            "dateModified": null,
            "createdBy": null,
            "createdByUser": null,
            "modifiedBy": null,
            "modifiedByUser": null,
            "id": f.id,
            "label": f.label,
            "alias": f.alias,
            "type": f.field_type,
            "group": f.group,
            "order": f.order,
            "object": f.object.api_name(),
            "defaultValue": f.default_value,
            "isRequired": f.required,
            "isFixed": f.fixed,
            "isListable": true,
            "isVisible": true,
            "isShortVisible": f.short_visible,
            "isUniqueIdentifier": f.unique,
            "isPubliclyUpdatable": false,
            "properties": f.properties,
        })
    }

    /// The answer of `GET /api/fields/{object}` (`FetchCommonApiController::getEntitiesAction`):
    /// `where` and `search` (`FieldApiController::getWhereFromRequest` appends `object eq
    /// <lead|company>` to the client's `where`; `search` looks at labels and aliases,
    /// `LeadFieldRepository::addCatchAllWhereClause`), ordered by `field_order`
    /// (`LeadFieldRepository::getDefaultOrder`), `limit` defaulting to `default_pagelimit` =
    /// 30 (`CoreBundle/Config/config.php:919`; 0 means no limit, and then `start` is ignored
    /// too: `CommonRepository::buildLimiterClauses`), `total` the integer count of all that
    /// match, and `fields` an object keyed by id (the query is `INDEX BY` id), `[]` when the
    /// page is empty. An object other than contact, lead or company matches nothing.
    pub fn page_json(&self, object: Option<Object>, q: &super::query::ListQuery) -> String {
        let all: Vec<&FieldDef> = match object {
            Some(o) => self
                .fields
                .iter()
                .filter(|f| q.selects(&FieldRow(f)) && f.object == o)
                .collect(),
            None => Vec::new(),
        };
        let mut all = all;
        all.sort_by_key(|f| (f.order, f.id));
        let page: Vec<&FieldDef> = if q.limit == 0 {
            all.clone()
        } else {
            all.iter().skip(q.start).take(q.limit).copied().collect()
        };
        let mut out = format!("{{\"total\":{},\"fields\":", all.len());
        if page.is_empty() {
            out.push_str("[]");
        } else {
            out.push('{');
            for (i, f) in page.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&format!("\"{}\":{}", f.id, Self::field_json(f)));
            }
            out.push('}');
        }
        out.push('}');
        out
    }
}

/// The columns of `lead_fields` a field list's `where` may name.
pub fn known_field_column(col: &str) -> bool {
    matches!(
        col,
        "id" | "label"
            | "alias"
            | "type"
            | "field_group"
            | "group"
            | "object"
            | "field_order"
            | "order"
            | "is_published"
            | "is_required"
            | "is_unique_identifer"
    )
}

/// A field as a `where` on `lead_fields` sees it.
struct FieldRow<'a>(&'a FieldDef);

impl super::query::Row for FieldRow<'_> {
    fn cell(&self, column: &str) -> Option<super::query::Cell> {
        use super::query::Cell;
        let f = self.0;
        Some(match column {
            "id" => Cell::Int(f.id.into()),
            "label" => Cell::Text(f.label.clone()),
            "alias" => Cell::Text(f.alias.clone()),
            "type" => Cell::Text(f.field_type.clone()),
            "field_group" | "group" => Cell::Text(f.group.clone()),
            "object" => Cell::Text(f.object.api_name().to_owned()),
            "field_order" | "order" => Cell::Int(f.order.into()),
            "is_published" => Cell::Int(1),
            "is_required" => Cell::Int(f.required.into()),
            "is_unique_identifer" => Cell::Int(f.unique.into()),
            _ => return None,
        })
    }

    fn matches_term(&self, term: &super::query::SearchTerm) -> bool {
        use super::query::{TermKind, like};
        match &term.kind {
            TermKind::Ids(ids) => ids.contains(&u64::from(self.0.id)),
            TermKind::Text(p) | TermKind::Name(p) | TermKind::Email(p) => {
                let p = format!("%{p}%");
                like(&self.0.label, &p) || like(&self.0.alias, &p)
            }
            TermKind::Anonymous => false,
        }
    }
}

/// How a value sent for a field is taken.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A blank (null, empty text, empty list): applied only with `overwriteWithBlank`.
    Blank,
    /// The value to store.
    Set(Json),
    /// Silently dropped, as Mautic drops an unreadable date.
    Ignore,
    /// Refused by the form: the item fails with HTTP 400 and this message.
    Invalid(String),
}

/// A time the way PHP's `strtotime` reads the forms a client sends: ISO 8601 with or without
/// an offset (an offset is converted to UTC; without one the API's PHP zone is UTC:
/// `index.php` sets it and the stateless API firewall never switches it), `Y-m-d H:i[:s]`,
/// `Y-m-d`, and the American `m/d/Y[ H:i[:s]]` (`RequestTraitTest::testCleanFieldsDateTime`:
/// `10/10/2022 05:10:25` -> `2022-10-10 05:10:25`).
pub fn parse_php_time(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim();
    // RFC 3339 and `Y-m-d[T ]H:i:s` (zone-less read as UTC, as PHP's zone is here).
    if let Some(t) = crate::model::parse_datetime(t) {
        return Some(t);
    }
    const NAIVE: [&str; 6] = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
        "%d-%m-%Y %H:%M:%S",
        "%d-%m-%Y %H:%M",
    ];
    if let Some(n) = NAIVE
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    {
        return Some(n.and_utc());
    }
    ["%Y-%m-%d", "%m/%d/%Y", "%d-%m-%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(t, f).ok())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

/// `RequestTrait::prepareParametersFromRequest`'s first test of a date: `(int)` of the value
/// without `/`, `-` and spaces. A value that casts to 0 (`0000-00-00`, `now`, `00:30`,
/// `@1714557600`) is removed from the request.
fn php_date_cast_is_zero(s: &str) -> bool {
    let stripped: String = s
        .chars()
        .filter(|c| !matches!(c, '/' | '-' | ' '))
        .collect();
    let digits: String = stripped
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u128>().map_or(true, |n| n == 0)
}

/// What `FILTER_SANITIZE_EMAIL` keeps: letters, digits and ``!#$%&'*+-=?^_`{|}~@.[]``
/// (`InputHelper::email`, which also trims and cuts at 254 characters).
fn sanitize_email(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-=?^_`{|}~@.[]".contains(*c))
        .take(254)
        .collect()
}

/// Reads a value for `def` the way Mautic's API form does (`RequestTrait::
/// prepareParametersFromRequest`, then the field's Symfony form type and its constraints).
pub fn read_value(def: &FieldDef, v: &Json, profile: MauticProfile) -> Incoming {
    let text = match v {
        Json::Null => return Incoming::Blank,
        Json::String(s) if s.trim().is_empty() => return Incoming::Blank,
        Json::Array(a) if a.is_empty() => return Incoming::Blank,
        // Symfony's forms treat `false` as null (a boolean field is set before the form runs).
        Json::Bool(false) if def.field_type != "boolean" => return Incoming::Blank,
        Json::String(s) => s.clone(),
        // PHP writes a float with no fraction without it: 3.0 is "3".
        Json::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                format!("{}", f as i64)
            }
            _ => n.to_string(),
        },
        Json::Bool(b) => (if *b { "1" } else { "0" }).to_owned(),
        Json::Array(items) => items
            .iter()
            .map(|x| match x {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("|"),
        Json::Object(_) => {
            return Incoming::Invalid(format!("{}: This value is not valid.", def.alias));
        }
    };
    let too_long = |t: &str| {
        def.char_limit
            .filter(|max| t.chars().count() > *max)
            .map(|max| {
                Incoming::Invalid(format!(
                    "{}: This value is too long. It should have {max} characters or less.",
                    def.alias
                ))
            })
    };
    if let Some(refused) = too_long(text.trim()) {
        return refused;
    }
    match def.field_type.as_str() {
        "email" => {
            let t = sanitize_email(text.trim());
            if valid_email(&t) {
                Incoming::Set(Json::String(t))
            } else {
                Incoming::Invalid(format!("{}: {t} is invalid.", def.alias))
            }
        }
        "number" => {
            let n = match v {
                Json::Number(n) => n.as_f64(),
                _ => text.trim().replace(',', ".").parse::<f64>().ok(),
            };
            match n.filter(|n| n.is_finite()) {
                // The form's NumberType rounds to the field's scale.
                Some(n) => Incoming::Set(match def.scale() {
                    Some(s) => {
                        let p = 10f64.powi(s as i32);
                        json!((n * p).round() / p)
                    }
                    None => match v {
                        Json::Number(_) => v.clone(),
                        _ => json!(n),
                    },
                }),
                None => Incoming::Invalid(format!("{}: This value is not valid.", def.alias)),
            }
        }
        // filter_var(FILTER_VALIDATE_BOOLEAN): "1", "true", "on", "yes" are true, all else false.
        "boolean" => {
            let t = text.trim().to_ascii_lowercase();
            let b = matches!(t.as_str(), "1" | "true" | "on" | "yes");
            Incoming::Set(json!(i32::from(b)))
        }
        "date" | "datetime" | "time" if php_date_cast_is_zero(&text) => Incoming::Ignore,
        "date" => match parse_php_time(&text) {
            Some(t) => Incoming::Set(Json::String(t.format("%Y-%m-%d").to_string())),
            None => Incoming::Ignore,
        },
        "datetime" => match parse_php_time(&text) {
            Some(t) => {
                let shown = if profile.keeps_seconds() {
                    t.format("%Y-%m-%d %H:%M:%S")
                } else {
                    t.format("%Y-%m-%d %H:%M:00")
                };
                Incoming::Set(Json::String(shown.to_string()))
            }
            None => Incoming::Ignore,
        },
        // The form's TimeType has no seconds (`EntityFieldsBuildFormTrait`: "@todo figure out
        // why this cause the contact form to fail").
        "time" => match NaiveTime::parse_from_str(text.trim(), "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(text.trim(), "%H:%M"))
        {
            Ok(t) => Incoming::Set(Json::String(t.format("%H:%M:00").to_string())),
            Err(_) => Incoming::Ignore,
        },
        "select" | "multiselect" => match def.choices() {
            Some(choices) => {
                let picked: Vec<&str> = text.split('|').map(str::trim).collect();
                if picked.iter().all(|p| choices.iter().any(|c| c == p)) {
                    Incoming::Set(Json::String(picked.join("|")))
                } else {
                    Incoming::Invalid(format!("{}: This value is not valid.", def.alias))
                }
            }
            None => Incoming::Set(Json::String(text)),
        },
        _ => Incoming::Set(Json::String(text.trim().to_owned())),
    }
}

/// `is_numeric($v) && 0 === (int) $v`: the values Mautic's API drops on POST and PATCH
/// (`CustomFieldsApiControllerTrait::setCustomFieldValues`), so a field can never be set to 0
/// (nor to any number between -1 and 1) through them.
pub fn php_numeric_zero(v: &Json) -> bool {
    match v {
        Json::Number(n) => n.as_f64().is_some_and(|f| f.trunc() == 0.0),
        Json::String(s) => {
            let t = s.trim();
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
                && t.parse::<f64>().is_ok_and(|f| f.trunc() == 0.0)
        }
        _ => false,
    }
}

/// What Symfony's e-mail constraint accepts, roughly: one `@`, a dotted domain, no spaces.
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    const V5: MauticProfile = MauticProfile::V5;

    fn def(ty: &str) -> FieldDef {
        FieldDef {
            id: 1,
            alias: "f".into(),
            label: "F".into(),
            field_type: ty.into(),
            group: "core".into(),
            object: Object::Contact,
            order: 1,
            required: false,
            unique: false,
            fixed: false,
            short_visible: false,
            properties: json!([]),
            default_value: None,
            char_limit: Some(DEFAULT_CHAR_LIMIT),
        }
    }

    #[test]
    fn zero_is_dropped_in_every_spelling() {
        for v in [
            json!(0),
            json!(0.5),
            json!("0"),
            json!(" 0.0 "),
            json!("-0.9"),
        ] {
            assert!(php_numeric_zero(&v), "{v}");
        }
        for v in [
            json!(1),
            json!("1"),
            json!(false),
            json!("0a"),
            json!(""),
            json!(null),
        ] {
            assert!(!php_numeric_zero(&v), "{v}");
        }
    }

    #[test]
    fn values_are_read_per_type() {
        assert_eq!(read_value(&def("text"), &json!("  "), V5), Incoming::Blank);
        assert_eq!(read_value(&def("text"), &json!(null), V5), Incoming::Blank);
        assert!(matches!(
            read_value(&def("email"), &json!("not-an-email"), V5),
            Incoming::Invalid(m) if m == "f: not-an-email is invalid."
        ));
        assert_eq!(
            read_value(&def("boolean"), &json!(false), V5),
            Incoming::Set(json!(0))
        );
        assert_eq!(
            read_value(&def("boolean"), &json!("yes"), V5),
            Incoming::Set(json!(1))
        );
        assert_eq!(
            read_value(&def("multiselect"), &json!(["a", "b"]), V5),
            Incoming::Set(json!("a|b"))
        );
        assert_eq!(
            read_value(&def("date"), &json!("2024-05-01T10:00:00+00:00"), V5),
            Incoming::Set(json!("2024-05-01"))
        );
        assert_eq!(
            read_value(&def("date"), &json!("0000-00-00"), V5),
            Incoming::Ignore
        );
        assert_eq!(
            read_value(&def("date"), &json!("soon"), V5),
            Incoming::Ignore
        );
        assert!(matches!(
            read_value(&def("number"), &json!("douze"), V5),
            Incoming::Invalid(_)
        ));
    }

    #[test]
    fn email_validation() {
        assert!(valid_email("a@b.fr"));
        assert!(!valid_email("a@b"));
        assert!(!valid_email("a b@c.fr"));
        assert!(!valid_email("@c.fr"));
    }
}
