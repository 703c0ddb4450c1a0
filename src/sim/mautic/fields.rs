//! The simulator's field catalogue: the contact and company fields a fresh Mautic 5 ships,
//! plus the custom fields a test adds, and how a value sent for a field is read and stored
//! (the rules of Mautic's `RequestTrait`, `CustomFieldsApiControllerTrait` and
//! `LeadModel::setFieldValues`, quirks included).

use serde_json::{Value as Json, json};

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

/// One field definition.
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
    pub required: bool,
    pub unique: bool,
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

/// The field groups of each object, in Mautic's display order.
pub fn groups(object: Object) -> &'static [&'static str] {
    match object {
        Object::Contact => &["core", "social", "personal", "professional"],
        Object::Company => &["core", "professional", "other"],
    }
}

/// Standard contact fields: (alias, label, type, group).
const CONTACT_FIELDS: [(&str, &str, &str, &str); 28] = [
    ("title", "Title", "lookup", "core"),
    ("firstname", "First Name", "text", "core"),
    ("lastname", "Last Name", "text", "core"),
    ("company", "Primary company", "text", "core"),
    ("position", "Position", "text", "core"),
    ("email", "Email", "email", "core"),
    ("mobile", "Mobile", "tel", "core"),
    ("phone", "Phone", "tel", "core"),
    ("points", "Points", "number", "core"),
    ("fax", "Fax", "tel", "core"),
    ("address1", "Address Line 1", "text", "core"),
    ("address2", "Address Line 2", "text", "core"),
    ("city", "City", "text", "core"),
    ("state", "State", "region", "core"),
    ("zipcode", "Zip Code", "text", "core"),
    ("country", "Country", "country", "core"),
    ("preferred_locale", "Preferred Locale", "locale", "core"),
    ("timezone", "Preferred Timezone", "timezone", "core"),
    ("last_active", "Date Last Active", "datetime", "core"),
    ("attribution_date", "Attribution Date", "datetime", "core"),
    ("attribution", "Attribution", "number", "core"),
    ("website", "Website", "url", "core"),
    ("facebook", "Facebook", "text", "social"),
    ("foursquare", "Foursquare", "text", "social"),
    ("instagram", "Instagram", "text", "social"),
    ("linkedin", "LinkedIn", "text", "social"),
    ("skype", "Skype", "text", "social"),
    ("twitter", "Twitter", "text", "social"),
];

/// Standard company fields: (alias, label, type, group).
const COMPANY_FIELDS: [(&str, &str, &str, &str); 15] = [
    ("companyaddress1", "Address 1", "text", "core"),
    ("companyaddress2", "Address 2", "text", "core"),
    ("companyemail", "Company Email", "email", "core"),
    ("companyphone", "Phone", "tel", "core"),
    ("companycity", "City", "text", "core"),
    ("companystate", "State", "region", "core"),
    ("companyzipcode", "Zip Code", "text", "core"),
    ("companycountry", "Country", "country", "core"),
    ("companyname", "Company Name", "text", "core"),
    ("companywebsite", "Website", "url", "core"),
    (
        "companynumber_of_employees",
        "Number of Employees",
        "number",
        "professional",
    ),
    ("companyfax", "Fax", "tel", "professional"),
    (
        "companyannual_revenue",
        "Annual Revenue",
        "number",
        "professional",
    ),
    ("companyindustry", "Industry", "select", "professional"),
    ("companydescription", "Description", "text", "professional"),
];

/// Every field of both objects.
#[derive(Debug, Clone)]
pub struct Catalog {
    fields: Vec<FieldDef>,
}

impl Default for Catalog {
    fn default() -> Self {
        let mut c = Catalog { fields: Vec::new() };
        for (alias, label, ty, group) in CONTACT_FIELDS {
            c.push(
                Object::Contact,
                alias,
                label,
                ty,
                group,
                false,
                alias == "email",
            );
        }
        for (alias, label, ty, group) in COMPANY_FIELDS {
            let name = alias == "companyname";
            c.push(Object::Company, alias, label, ty, group, name, name);
        }
        c
    }
}

impl Catalog {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        object: Object,
        alias: &str,
        label: &str,
        ty: &str,
        group: &str,
        required: bool,
        unique: bool,
    ) {
        let id = self.fields.iter().map(|f| f.id).max().unwrap_or(0) + 1;
        self.fields
            .retain(|f| !(f.object == object && f.alias == alias));
        self.fields.push(FieldDef {
            id,
            alias: alias.to_owned(),
            label: label.to_owned(),
            field_type: ty.to_owned(),
            group: group.to_owned(),
            object,
            required,
            unique,
        });
    }

    /// Adds (or redefines) a custom field, in the `core` group as Mautic does by default.
    ///
    /// # Panics
    /// On a type Mautic does not have (a typo in a test).
    pub fn add_custom(&mut self, object: Object, alias: &str, field_type: &str) {
        assert!(
            FIELD_TYPES.contains(&field_type),
            "Mautic has no field type '{field_type}' (expected one of {FIELD_TYPES:?})"
        );
        let label = alias.replace('_', " ");
        self.push(object, alias, &label, field_type, "core", false, false);
    }

    pub fn of(&self, object: Object) -> impl Iterator<Item = &FieldDef> {
        self.fields.iter().filter(move |f| f.object == object)
    }

    pub fn get(&self, object: Object, alias: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.object == object && f.alias == alias)
    }

    /// The answer of `GET /api/fields/{object}`.
    pub fn to_json(&self, object: Object) -> Json {
        let fields: Vec<Json> = self
            .of(object)
            .map(|f| {
                json!({
                    "id": f.id,
                    "isPublished": true,
                    "label": f.label,
                    "alias": f.alias,
                    "type": f.field_type,
                    "group": f.group,
                    "order": f.id,
                    "object": object.api_name(),
                    "defaultValue": null,
                    "isRequired": f.required,
                    "isPubliclyUpdatable": false,
                    "isUniqueIdentifier": f.unique,
                    "properties": if f.field_type == "boolean" {
                        json!({"no": "No", "yes": "Yes"})
                    } else {
                        json!([])
                    },
                })
            })
            .collect();
        json!({"total": fields.len(), "fields": fields})
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

/// Reads a value for `def` the way Mautic's API form does.
pub fn read_value(def: &FieldDef, v: &Json) -> Incoming {
    let text = match v {
        Json::Null => return Incoming::Blank,
        Json::String(s) if s.trim().is_empty() => return Incoming::Blank,
        Json::Array(a) if a.is_empty() => return Incoming::Blank,
        Json::String(s) => s.clone(),
        Json::Number(n) => n.to_string(),
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
    match def.field_type.as_str() {
        "email" => {
            let t = text.trim();
            if valid_email(t) {
                Incoming::Set(Json::String(t.to_owned()))
            } else {
                Incoming::Invalid(format!("{}: A valid email is required.", def.alias))
            }
        }
        "number" => match v {
            Json::Number(_) => Incoming::Set(v.clone()),
            _ => match text.trim().replace(',', ".").parse::<f64>() {
                Ok(n) if n.is_finite() => Incoming::Set(json!(n)),
                _ => Incoming::Invalid(format!("{}: This value is not valid.", def.alias)),
            },
        },
        // filter_var(FILTER_VALIDATE_BOOLEAN): "1", "true", "on", "yes" are true, all else false.
        "boolean" => {
            let t = text.trim().to_ascii_lowercase();
            let b = matches!(t.as_str(), "1" | "true" | "on" | "yes");
            Incoming::Set(json!(i32::from(b)))
        }
        "date" => match super::query::parse_sql_time(&text) {
            Some(t) if !text.starts_with("0000") => {
                Incoming::Set(Json::String(t.format("%Y-%m-%d").to_string()))
            }
            _ => Incoming::Ignore,
        },
        "datetime" => match super::query::parse_sql_time(&text) {
            Some(t) if !text.starts_with("0000") => {
                Incoming::Set(Json::String(t.format("%Y-%m-%d %H:%M:%S").to_string()))
            }
            _ => Incoming::Ignore,
        },
        _ => Incoming::Set(Json::String(text)),
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

    fn def(ty: &str) -> FieldDef {
        FieldDef {
            id: 1,
            alias: "f".into(),
            label: "F".into(),
            field_type: ty.into(),
            group: "core".into(),
            object: Object::Contact,
            required: false,
            unique: false,
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
        assert_eq!(read_value(&def("text"), &json!("  ")), Incoming::Blank);
        assert_eq!(read_value(&def("text"), &json!(null)), Incoming::Blank);
        assert!(matches!(
            read_value(&def("email"), &json!("not-an-email")),
            Incoming::Invalid(m) if m == "f: A valid email is required."
        ));
        assert_eq!(
            read_value(&def("boolean"), &json!(false)),
            Incoming::Set(json!(0))
        );
        assert_eq!(
            read_value(&def("boolean"), &json!("yes")),
            Incoming::Set(json!(1))
        );
        assert_eq!(
            read_value(&def("multiselect"), &json!(["a", "b"])),
            Incoming::Set(json!("a|b"))
        );
        assert_eq!(
            read_value(&def("date"), &json!("2024-05-01T10:00:00+00:00")),
            Incoming::Set(json!("2024-05-01"))
        );
        assert_eq!(
            read_value(&def("date"), &json!("0000-00-00")),
            Incoming::Ignore
        );
        assert_eq!(read_value(&def("date"), &json!("soon")), Incoming::Ignore);
        assert!(matches!(
            read_value(&def("number"), &json!("douze")),
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
