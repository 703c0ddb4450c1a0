//! The configuration file: both connections, what syncs, the field mappings and the merge
//! settings. TOML, every setting with a default except the two connections.
//!
//! Secrets (weavy password, Mautic client secret or password) come from the environment
//! (variables named by `*_env`, with defaults) or, discouraged, inline in the file; a file that
//! holds a secret and is readable by others gets a warning.
//!
//! Validation happens twice: [`Config::load`] checks the file on its own (names, durations,
//! the time zone, the company key's requirements), and [`Config::validate_fields`] checks the
//! mappings against both sides' live field lists. Each finds every problem, one message each,
//! saying which setting and what to do.

use crate::connector::http::HttpSettings;
use crate::connector::{DNC_BOUNCED, FieldInfo, Secret};
use crate::duration_text;
use crate::identity::CompanyKeyKind;
use crate::model::{Compare, Direction, FieldPolicy, FieldType, RecordKind, Side, engine_fields};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub weavy: WeavyConfig,
    pub mautic: MauticConfig,
    #[serde(default)]
    pub sync: SyncConfig,
    #[serde(default)]
    pub store: StoreConfig,
    /// Mappings of people (weavy Contact and Entrant, Mautic contact).
    #[serde(default = "default_person_fields")]
    pub person_fields: Vec<FieldMapping>,
    /// Mappings of companies (weavy customer, Mautic company).
    #[serde(default = "default_company_fields")]
    pub company_fields: Vec<FieldMapping>,
    /// Warnings found while loading (a world-readable file holding a secret...).
    #[serde(skip)]
    pub warnings: Vec<String>,
    /// Where it was read from.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// The weavy connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeavyConfig {
    /// `https://api.weavy.divalto.com` (Europe) or `https://swing-ca.swingmobility.com`.
    #[serde(default = "default_weavy_url")]
    pub base_url: String,
    pub project_code: String,
    pub user: String,
    /// Discouraged: prefer `password_env`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The environment variable holding the password.
    #[serde(default = "default_weavy_password_env")]
    pub password_env: String,
    /// The project's time zone (weavy's `srvDate` is local time).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    #[serde(default)]
    pub http: HttpSettings,
}

/// How fieldsync authenticates to Mautic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MauticAuthKind {
    /// OAuth2 client credentials (an API credential created by an admin).
    #[default]
    Oauth2,
    /// HTTP Basic (when the admin enabled it).
    Basic,
}

/// The Mautic (Webmecanik Automation) connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MauticConfig {
    pub base_url: String,
    #[serde(default)]
    pub auth: MauticAuthKind,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default = "default_mautic_secret_env")]
    pub client_secret_env: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default = "default_mautic_password_env")]
    pub password_env: String,
    /// Also read records whose `date_modified` is NULL (Mautic before 2025).
    #[serde(default = "yes")]
    pub null_date_modified_fallback: bool,
    #[serde(default = "default_page")]
    pub page_size: usize,
    #[serde(default = "default_page")]
    pub batch_size: usize,
    #[serde(default)]
    pub http: HttpSettings,
}

/// Which objects sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Object {
    /// weavy customers and Mautic companies.
    Companies,
    /// weavy Contacts and Mautic contacts.
    Contacts,
    /// weavy Entrants and Mautic contacts with no weavy Contact.
    Leads,
}

/// The merge and scheduling settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    pub objects: Vec<Object>,
    /// Time between two cycles of `fieldsync run`: "15m", "1h", "30s".
    #[serde(with = "duration_text")]
    pub period: Duration,
    /// Each pull starts this long before the last cursor, so nothing is missed at the edges.
    #[serde(with = "duration_text")]
    pub overlap_window: Duration,
    /// Two changes of a field this close in time are a tie.
    #[serde(with = "duration_text")]
    pub tie_window: Duration,
    /// A cycle reads every record of both sides again when the last full read is this old
    /// (`"0"` never): whatever an incremental pull could miss is healed within that time.
    #[serde(with = "duration_text")]
    pub full_every: Duration,
    /// Who wins a tie: "weavy", "mautic" or "none" (then the byte-wise smaller value).
    pub preferred_side: PreferredSide,
    /// How companies are matched: "name", "siret" or "idcrm".
    pub company_key: CompanyKeyKind,
    /// The canonical field holding the SIRET (company_key = "siret").
    pub siret_field: String,
    /// The Mautic company field that holds the weavy customer id (company_key = "idcrm";
    /// fieldsync fills it in).
    pub idcrm_field: String,
    /// A contact's company follows on the other side once both companies are linked.
    pub company_relation: bool,
    /// Create weavy Entrants for Mautic contacts with no weavy Contact.
    pub create_weavy_entrants: bool,
    /// Create Mautic contacts for weavy Contacts and Entrants with no Mautic contact.
    pub create_mautic_contacts: bool,
    /// Create weavy customers for Mautic companies with no weavy customer.
    pub create_weavy_companies: bool,
    /// Create Mautic companies for weavy customers with no Mautic company.
    pub create_mautic_companies: bool,
    /// A patch rejected this many times is dropped and logged.
    pub max_patch_attempts: u32,
    /// The longest text value (in bytes) copied to the other side; a longer one is reported
    /// on its record and not copied.
    pub max_value_bytes: usize,
}

/// Who wins a tie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PreferredSide {
    Weavy,
    Mautic,
    None,
}

impl PreferredSide {
    pub fn side(self) -> Option<Side> {
        match self {
            PreferredSide::Weavy => Some(Side::Weavy),
            PreferredSide::Mautic => Some(Side::Mautic),
            PreferredSide::None => None,
        }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            objects: vec![Object::Companies, Object::Contacts, Object::Leads],
            period: Duration::from_secs(15 * 60),
            overlap_window: Duration::from_secs(10 * 60),
            tie_window: Duration::from_secs(1),
            full_every: Duration::from_secs(24 * 3600),
            preferred_side: PreferredSide::Weavy,
            company_key: CompanyKeyKind::Name,
            siret_field: "siret".into(),
            idcrm_field: "idcrm".into(),
            company_relation: true,
            create_weavy_entrants: true,
            create_mautic_contacts: true,
            create_weavy_companies: true,
            create_mautic_companies: true,
            max_patch_attempts: 5,
            max_value_bytes: crate::model::ValueLimits::DEFAULT.max_text_bytes,
        }
    }
}

/// Where the state lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The database directory (relative paths are relative to the config file).
    pub path: PathBuf,
    /// sled's cache, in MiB. sled counts a cached page at its size on disk and holds about
    /// twice that in memory, so a larger cache costs more memory than it says, and the scale
    /// bench found no speed in it (docs/PERFORMANCE.md, "Knobs").
    pub cache_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("fieldsync.db"),
            cache_mb: 32,
        }
    }
}

/// One mapped field: a canonical name joined to a weavy field and a Mautic alias.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldMapping {
    /// The canonical name, used in the logs and the audit (letters, digits, `_`).
    pub name: String,
    /// The weavy field: on `customercontact` (people) or `customer` (companies).
    #[serde(default)]
    pub weavy: Option<String>,
    /// The weavy field on `marketinginbound` (Entrants); defaults to `weavy`. "-": not synced
    /// for Entrants.
    #[serde(default)]
    pub entrant: Option<String>,
    /// The Mautic alias.
    #[serde(default)]
    pub mautic: Option<String>,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub overwrite_with_blank: bool,
    #[serde(rename = "type", default)]
    pub field_type: FieldType,
    /// Leading and trailing spaces do not make two values different.
    #[serde(default)]
    pub trim: bool,
    /// Case does not make two values different.
    #[serde(default)]
    pub ignore_case: bool,
}

impl FieldMapping {
    fn new(name: &str, weavy: &str, mautic: &str) -> Self {
        FieldMapping {
            name: name.into(),
            weavy: Some(weavy.into()),
            entrant: None,
            mautic: Some(mautic.into()),
            direction: Direction::Both,
            overwrite_with_blank: false,
            field_type: FieldType::Text,
            trim: true,
            ignore_case: false,
        }
    }

    /// The field code on a table, if the mapping covers that table.
    pub fn code(&self, kind: RecordKind) -> Option<&str> {
        let code = match kind {
            RecordKind::WeavyEntrant => self.entrant.as_deref().or(self.weavy.as_deref()),
            RecordKind::WeavyContact | RecordKind::WeavyCustomer => self.weavy.as_deref(),
            RecordKind::MauticContact | RecordKind::MauticCompany => self.mautic.as_deref(),
        }?;
        (code != "-" && !code.is_empty()).then_some(code)
    }

    /// The merge policy of this field under the sync settings.
    pub fn policy(&self, sync: &SyncConfig) -> FieldPolicy {
        FieldPolicy {
            direction: self.direction,
            overwrite_with_blank: self.overwrite_with_blank,
            compare: Compare {
                trim: self.trim,
                ignore_case: self.ignore_case,
                precision: crate::model::Precision::EXACT,
            },
            preferred: sync.preferred_side.side(),
            tie_window_micros: sync.tie_window.as_micros().min(i64::MAX as u128) as i64,
        }
    }
}

/// The default people mapping: the standard fields both sides have.
pub fn default_person_fields() -> Vec<FieldMapping> {
    let mut email = FieldMapping::new("email", "email", "email");
    email.ignore_case = true;
    let mut npai = FieldMapping::new("npai", "bouncedEmailDetected", DNC_BOUNCED);
    npai.direction = Direction::MauticWins;
    npai.field_type = FieldType::DateTime;
    npai.entrant = Some("-".into());
    vec![
        email,
        FieldMapping::new("firstname", "firstName", "firstname"),
        FieldMapping::new("lastname", "lastName", "lastname"),
        FieldMapping::new("phone", "phoneNumber", "phone"),
        FieldMapping::new("mobile", "mobilePhoneNumber", "mobile"),
        npai,
    ]
}

/// The default companies mapping.
pub fn default_company_fields() -> Vec<FieldMapping> {
    let mut name = FieldMapping::new("name", "name", "companyname");
    name.ignore_case = false;
    let mut email = FieldMapping::new("email", "email", "companyemail");
    email.ignore_case = true;
    vec![
        name,
        email,
        FieldMapping::new("phone", "phoneNumber", "companyphone"),
        FieldMapping::new("address", "address1", "companyaddress1"),
        FieldMapping::new("postalcode", "postalCode", "companyzipcode"),
        FieldMapping::new("city", "city", "companycity"),
        FieldMapping::new("website", "website", "companywebsite"),
    ]
}

fn default_weavy_url() -> String {
    "https://api.weavy.divalto.com".into()
}
fn default_weavy_password_env() -> String {
    "FIELDSYNC_WEAVY_PASSWORD".into()
}
fn default_mautic_secret_env() -> String {
    "FIELDSYNC_MAUTIC_CLIENT_SECRET".into()
}
fn default_mautic_password_env() -> String {
    "FIELDSYNC_MAUTIC_PASSWORD".into()
}
fn default_time_zone() -> String {
    "Europe/Paris".into()
}
fn default_page() -> usize {
    200
}
fn yes() -> bool {
    true
}

/// Durations written as a user writes them: "15m", "90s", "1h", "1h30m", "500ms".
/// A server address as the settings take it: `http://` or `https://` and a host. A bare host
/// is refused with the address to write instead.
pub fn check_http_url(url: &str) -> Result<(), String> {
    let t = url.trim();
    if t.starts_with("https://") || t.starts_with("http://") {
        return Ok(());
    }
    if !t.is_empty() && !t.contains("://") && !t.contains(char::is_whitespace) {
        return Err(format!("'{url}' is not an http(s) URL: write https://{t}"));
    }
    Err(format!("'{url}' is not an http(s) URL"))
}

/// One problem with the configuration: which setting, what is wrong, what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub setting: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

fn problem(setting: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        setting: setting.into(),
        message: message.into(),
    }
}

/// What can be wrong with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read the config file {path}: {source}; create one with `fieldsync init` or pass --config"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("the configuration has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
    #[error(
        "no {what} for {side}: the environment variable {env} {state}; set it, or `{setting}` in the config file (then make the file readable by you only)"
    )]
    MissingSecret {
        side: Side,
        what: &'static str,
        env: String,
        /// "is not set", "is empty", "is not valid UTF-8".
        state: &'static str,
        setting: &'static str,
    },
    #[error("{} secrets are missing:\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    MissingSecrets(Vec<ConfigError>),
}

impl Config {
    /// Reads, parses and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })?;
        config.source = Some(path.to_path_buf());
        if config.has_inline_secret() && readable_by_others(path) {
            config.warnings.push(format!(
                "{} holds a secret and is readable by other users: run `chmod 600 {}`, or move the secret to an environment variable",
                path.display(),
                path.display()
            ));
        }
        if let Some(dir) = path.parent()
            && config.store.path.is_relative()
        {
            config.store.path = dir.join(&config.store.path);
        }
        Ok(config)
    }

    /// Parses and checks a config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("(config)"),
            message: parse_message(text, &e),
        })?;
        let problems = config.check();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    fn has_inline_secret(&self) -> bool {
        self.weavy.password.is_some()
            || self.mautic.client_secret.is_some()
            || self.mautic.password.is_some()
    }

    /// Every problem the file has on its own.
    pub fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.weavy.project_code.trim().is_empty() {
            p.push(problem(
                "weavy.project_code",
                "is empty: give the weavy project code",
            ));
        }
        if self.weavy.time_zone.parse::<chrono_tz::Tz>().is_err() {
            p.push(problem(
                "weavy.time_zone",
                format!(
                    "'{}' is not a time zone: use an IANA name such as Europe/Paris",
                    self.weavy.time_zone
                ),
            ));
        }
        for (setting, url) in [
            ("weavy.base_url", &self.weavy.base_url),
            ("mautic.base_url", &self.mautic.base_url),
        ] {
            if let Err(why) = check_http_url(url) {
                p.push(problem(setting, why));
            }
        }
        match self.mautic.auth {
            MauticAuthKind::Oauth2
                if self.mautic.client_id.as_deref().is_none_or(str::is_empty) =>
            {
                p.push(problem(
                    "mautic.client_id",
                    "is required with auth = \"oauth2\": the public key of the API credential",
                ));
            }
            MauticAuthKind::Basic if self.mautic.user.as_deref().is_none_or(str::is_empty) => {
                p.push(problem("mautic.user", "is required with auth = \"basic\""));
            }
            _ => {}
        }
        if !(1..=200).contains(&self.mautic.page_size) {
            p.push(problem("mautic.page_size", "must be between 1 and 200"));
        }
        if !(1..=200).contains(&self.mautic.batch_size) {
            p.push(problem(
                "mautic.batch_size",
                "must be between 1 and 200 (Mautic refuses more than 200 items a batch)",
            ));
        }
        if self.sync.period < duration_text::MIN_PERIOD {
            p.push(problem(
                "sync.period",
                format!(
                    "must be at least {} (each cycle reads both servers)",
                    duration_text::format(duration_text::MIN_PERIOD)
                ),
            ));
        }
        // Bounds that keep every time computed from them in range (a cursor minus an overlap
        // of a million years would not be a date).
        const DAY: u64 = 86_400;
        for (setting, d, max_days) in [
            ("sync.period", self.sync.period, 30),
            ("sync.overlap_window", self.sync.overlap_window, 30),
            ("sync.tie_window", self.sync.tie_window, 1),
            ("sync.full_every", self.sync.full_every, 365),
        ] {
            if d > Duration::from_secs(max_days * DAY) {
                p.push(problem(
                    setting,
                    format!(
                        "{} is too long: at most {max_days}d",
                        duration_text::format(d)
                    ),
                ));
            }
        }
        if self.sync.max_value_bytes == 0 {
            p.push(problem(
                "sync.max_value_bytes",
                "must be at least 1 (the default is 65536)",
            ));
        }
        if self.sync.max_patch_attempts == 0 {
            p.push(problem("sync.max_patch_attempts", "must be at least 1"));
        }
        if self.sync.objects.is_empty() {
            p.push(problem(
                "sync.objects",
                "is empty: list at least one of companies, contacts, leads",
            ));
        }
        self.check_mappings("person_fields", &self.person_fields, &mut p);
        self.check_mappings("company_fields", &self.company_fields, &mut p);
        let has = |list: &[FieldMapping], name: &str| list.iter().any(|m| m.name == name);
        if self.syncs_people() && !has(&self.person_fields, engine_fields::EMAIL) {
            p.push(problem(
                "person_fields",
                "needs a mapping named \"email\": people are matched on it",
            ));
        }
        if self.syncs(Object::Companies) {
            match self.sync.company_key {
                CompanyKeyKind::Name if !has(&self.company_fields, "name") => p.push(problem(
                    "company_fields",
                    "needs a mapping named \"name\" (company_key = \"name\")",
                )),
                CompanyKeyKind::Siret if !has(&self.company_fields, &self.sync.siret_field) => {
                    p.push(problem(
                        "sync.siret_field",
                        format!(
                            "company_key = \"siret\" needs a company mapping named \"{}\"",
                            self.sync.siret_field
                        ),
                    ))
                }
                CompanyKeyKind::Idcrm if self.sync.idcrm_field.trim().is_empty() => p.push(problem(
                    "sync.idcrm_field",
                    "company_key = \"idcrm\" needs the alias of the Mautic company field holding the weavy customer id",
                )),
                _ => {}
            }
            if !has(&self.company_fields, engine_fields::NAME) {
                p.push(problem(
                    "company_fields",
                    "needs a mapping named \"name\": a new Mautic company needs its companyname",
                ));
            }
        }
        p
    }

    fn check_mappings(&self, list: &str, mappings: &[FieldMapping], p: &mut Vec<Problem>) {
        let mut seen = BTreeSet::new();
        for (i, m) in mappings.iter().enumerate() {
            let at = format!("{list}[{i}] ({})", m.name);
            if m.name.is_empty()
                || !m
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                p.push(problem(&at, "name must be lowercase letters, digits and _"));
            }
            if !seen.insert(m.name.clone()) {
                p.push(problem(&at, "the same name is mapped twice: keep one"));
            }
            if m.weavy.is_none() || m.mautic.is_none() {
                p.push(problem(&at, "needs both `weavy` and `mautic`"));
            }
            // The engine's own names are for what the engine means by them.
            let people = list == "person_fields";
            let reserved = match m.name.as_str() {
                engine_fields::COMPANY if people => Some(
                    "is the engine's name for a person's company (the contact's link to its company, `sync.company_relation`): give this mapping another name".to_owned(),
                ),
                engine_fields::IDCRM if !people && self.sync.company_key == CompanyKeyKind::Idcrm => Some(format!(
                    "is the engine's name for the weavy customer id it writes into Mautic's `{}` (company_key = \"idcrm\"): remove this mapping, or give it another name",
                    self.sync.idcrm_field
                )),
                engine_fields::EMAIL if people && m.field_type != FieldType::Text => Some(
                    "is how people are matched: it must be a text mapping (remove `type`)".to_owned(),
                ),
                engine_fields::NAME if !people && m.field_type != FieldType::Text => Some(
                    "is how companies are matched and named: it must be a text mapping (remove `type`)".to_owned(),
                ),
                _ => None,
            };
            if let Some(why) = reserved {
                p.push(problem(&at, format!("'{}' {why}", m.name)));
            }
            if m.mautic.as_deref() == Some(DNC_BOUNCED) && m.direction != Direction::MauticWins {
                p.push(problem(
                    &at,
                    format!(
                        "{DNC_BOUNCED} is read-only on Mautic: set direction = \"mautic_wins\""
                    ),
                ));
            }
        }
    }

    /// The bounds on values copied from one side to the other.
    pub fn value_limits(&self) -> crate::model::ValueLimits {
        crate::model::ValueLimits {
            max_text_bytes: self.sync.max_value_bytes,
        }
    }

    /// Whether an object syncs.
    pub fn syncs(&self, o: Object) -> bool {
        self.sync.objects.contains(&o)
    }

    pub fn syncs_people(&self) -> bool {
        self.syncs(Object::Contacts) || self.syncs(Object::Leads)
    }

    /// The tables that sync, in pull order.
    pub fn kinds(&self) -> Vec<RecordKind> {
        let mut k = Vec::new();
        if self.syncs(Object::Companies) {
            k.extend([RecordKind::WeavyCustomer, RecordKind::MauticCompany]);
        }
        if self.syncs(Object::Contacts) {
            k.push(RecordKind::WeavyContact);
        }
        if self.syncs(Object::Leads) {
            k.push(RecordKind::WeavyEntrant);
        }
        if self.syncs_people() {
            k.push(RecordKind::MauticContact);
        }
        k
    }

    /// The mappings of a table.
    pub fn mappings(&self, kind: RecordKind) -> &[FieldMapping] {
        match kind.entity_kind() {
            crate::model::EntityKind::Company => &self.company_fields,
            crate::model::EntityKind::Person => &self.person_fields,
        }
    }

    /// The weavy password.
    pub fn weavy_password(&self) -> Result<Secret, ConfigError> {
        secret(
            &self.weavy.password,
            &self.weavy.password_env,
            Side::Weavy,
            "password",
            "weavy.password",
        )
    }

    /// The Mautic client secret (OAuth2) or password (Basic).
    pub fn mautic_secret(&self) -> Result<Secret, ConfigError> {
        match self.mautic.auth {
            MauticAuthKind::Oauth2 => secret(
                &self.mautic.client_secret,
                &self.mautic.client_secret_env,
                Side::Mautic,
                "client secret",
                "mautic.client_secret",
            ),
            MauticAuthKind::Basic => secret(
                &self.mautic.password,
                &self.mautic.password_env,
                Side::Mautic,
                "password",
                "mautic.password",
            ),
        }
    }

    /// Every secret the configuration needs and cannot find, all at once (one error names
    /// them all; `Ok` when none is missing).
    pub fn check_secrets(&self) -> Result<(), ConfigError> {
        let mut missing: Vec<ConfigError> =
            [self.weavy_password().err(), self.mautic_secret().err()]
                .into_iter()
                .flatten()
                .collect();
        match missing.len() {
            0 => Ok(()),
            1 => Err(missing.remove(0)),
            _ => Err(ConfigError::MissingSecrets(missing)),
        }
    }

    /// The pair of instances this configuration syncs (what its database is bound to).
    pub fn instances(&self) -> crate::store::Instances {
        crate::store::Instances::new(
            &self.weavy.base_url,
            &self.weavy.project_code,
            &self.mautic.base_url,
        )
    }

    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.weavy
            .time_zone
            .parse()
            .unwrap_or(chrono_tz::Europe::Paris)
    }

    /// Checks every mapping against the sides' live field lists (by table): each field exists,
    /// and is writable where its direction writes.
    pub fn validate_fields(&self, fields: &BTreeMap<RecordKind, Vec<FieldInfo>>) -> Vec<Problem> {
        let mut p = Vec::new();
        for kind in self.kinds() {
            let Some(list) = fields.get(&kind) else {
                continue;
            };
            let by_code: BTreeMap<&str, &FieldInfo> =
                list.iter().map(|f| (f.code.as_str(), f)).collect();
            let section = match kind.entity_kind() {
                crate::model::EntityKind::Company => "company_fields",
                crate::model::EntityKind::Person => "person_fields",
            };
            for m in self.mappings(kind) {
                let Some(code) = m.code(kind) else { continue };
                let side = kind.side();
                let setting = format!(
                    "{section} ({}): {} `{}`",
                    m.name,
                    side,
                    if kind == RecordKind::WeavyEntrant {
                        "entrant"
                    } else {
                        side.as_str()
                    }
                );
                match by_code.get(code) {
                    None => {
                        let hint = crate::suggest::did_you_mean(code, by_code.keys().copied());
                        p.push(problem(
                        setting,
                        match side {
                            Side::Weavy => format!(
                                "weavy table '{}' ({}) has no field '{code}'{hint}: check the name in weavy Studio's data dictionary (`fieldsync fields` lists them), or set `{}` to another field{}",
                                kind.label(),
                                kind.api_name(),
                                if kind == RecordKind::WeavyEntrant { "entrant" } else { "weavy" },
                                if kind == RecordKind::WeavyEntrant { " (or \"-\" not to sync it for Entrants)" } else { "" }
                            ),
                            Side::Mautic => format!(
                                "Mautic has no {} field with alias '{code}'{hint}: create it in Mautic (Settings > Custom Fields) or fix the alias (`fieldsync fields` lists them)",
                                kind.api_name()
                            ),
                        },
                    ))
                    }
                    Some(f) if !f.writable && m.direction.may_write(side) => p.push(problem(
                        setting,
                        format!(
                            "'{code}' cannot be written on {side}, but direction = \"{}\" writes to {side}: set direction = \"{}\"",
                            m.direction,
                            match side {
                                Side::Weavy => "weavy_wins",
                                Side::Mautic => "mautic_wins",
                            }
                        ),
                    )),
                    Some(f) => {
                        let decides = m.direction == Direction::Both
                            || !m.direction.may_write(side);
                        if let Err(why) =
                            m.field_type
                                .fits(f.field_type, m.direction.may_write(side), decides)
                        {
                            p.push(problem(
                                setting,
                                format!(
                                    "'{code}' is a {} field (read as {}) and the mapping's type = \"{}\": {why}. Compatible: {}",
                                    f.raw_type,
                                    f.field_type,
                                    m.field_type,
                                    crate::model::COMPATIBLE_TYPES
                                ),
                            ));
                        }
                    }
                }
            }
        }
        if self.syncs(Object::Companies) && self.sync.company_key == CompanyKeyKind::Idcrm {
            let has = fields
                .get(&RecordKind::MauticCompany)
                .is_none_or(|l| l.iter().any(|f| f.code == self.sync.idcrm_field));
            if !has {
                p.push(problem(
                    "sync.idcrm_field",
                    format!(
                        "Mautic has no company field '{}': create a text company field with that alias",
                        self.sync.idcrm_field
                    ),
                ));
            }
        }
        p
    }
}

/// A TOML error as a user reads it: where (line and column) and what, but never the source
/// line itself (toml quotes it, and it may be the line holding a password), and with the value
/// of every secret-looking setting of the file blotted out of the message (a password written
/// as a number is quoted in "invalid type: integer `...`").
/// For serde's "unknown field `overlap_windw`, expected one of `a`, `b`" (or "expected `a` or
/// `b`"): "; did you mean 'overlap_window'?", from the names it lists.
fn suggest_setting(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return String::new();
    };
    let Some((unknown, expected)) = rest.split_once('`') else {
        return String::new();
    };
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    crate::suggest::did_you_mean(unknown, known)
}

fn parse_message(text: &str, e: &toml::de::Error) -> String {
    // Every byte of the message that belongs to a secret's value is marked, then each marked
    // run is written `***`: one pass over the original message (replacing in turn, a value
    // like `*` would multiply the stars of the previous replacements, exponentially).
    let original = e.message().trim();
    let mut hidden = vec![false; original.len()];
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().trim_matches(['"', '\'']).to_ascii_lowercase();
        if !(key.contains("password") || key.contains("secret") || key.contains("token")) {
            continue;
        }
        let value = value.trim().trim_matches(['"', '\'', '[', ']', ' ']);
        if !value.is_empty() {
            for (at, found) in original.match_indices(value) {
                hidden[at..at + found.len()].fill(true);
            }
        }
    }
    let mut message = String::with_capacity(original.len());
    for (at, c) in original.char_indices() {
        match (hidden[at], at.checked_sub(1).map(|p| hidden[p])) {
            (false, _) => message.push(c),
            (true, Some(true)) => {}
            (true, _) => message.push_str("***"),
        }
    }
    message += &suggest_setting(&message);
    match e.span() {
        Some(span) => {
            let mut at = span.start.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let before = &text[..at];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            // The key of that line says where, and is no secret; its value may be one.
            let source = text.lines().nth(line - 1).unwrap_or("").trim();
            let at = match source.split_once('=') {
                Some((key, _)) if !key.trim().is_empty() => format!(" (at `{}`)", key.trim()),
                None if source.starts_with('[') => format!(" (at `{source}`)"),
                _ => String::new(),
            };
            format!("line {line}, column {column}{at}: {message}")
        }
        None => message,
    }
}

fn secret(
    inline: &Option<Secret>,
    env: &str,
    side: Side,
    what: &'static str,
    setting: &'static str,
) -> Result<Secret, ConfigError> {
    if let Some(s) = inline
        && !s.is_empty()
    {
        return Ok(s.clone());
    }
    let state = match std::env::var(env) {
        Ok(v) if !v.is_empty() => return Ok(Secret::new(v)),
        Ok(_) => "is empty",
        Err(std::env::VarError::NotPresent) => "is not set",
        Err(std::env::VarError::NotUnicode(_)) => "is not valid UTF-8",
    };
    Err(ConfigError::MissingSecret {
        side,
        what,
        env: env.to_owned(),
        state,
        setting,
    })
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[weavy]
project_code = "ACME"
user = "api"

[mautic]
base_url = "https://acme.webmecanik.com"
client_id = "1_abc"
"#;

    #[test]
    fn a_period_is_a_second_at_least() {
        assert!(duration_text::parse_period("0s").is_err());
        assert!(duration_text::parse_period("999ms").is_err());
        assert_eq!(
            duration_text::parse_period("1s"),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(
            duration_text::parse_period("15m"),
            Ok(Duration::from_secs(900))
        );
        // "0" alone is a duration (it turns sync.full_every off), not a period.
        assert_eq!(duration_text::parse("0"), Ok(Duration::ZERO));
        assert!(duration_text::parse_period("0").is_err());
    }

    #[test]
    fn a_minimal_file_gets_every_default() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.sync.period, Duration::from_secs(900));
        assert_eq!(c.sync.overlap_window, Duration::from_secs(600));
        assert_eq!(c.weavy.time_zone, "Europe/Paris");
        assert_eq!(c.person_fields, default_person_fields());
        assert_eq!(c.kinds().len(), 5);
        let npai = c.person_fields.iter().find(|m| m.name == "npai").unwrap();
        assert_eq!(
            npai.code(RecordKind::WeavyContact),
            Some("bouncedEmailDetected")
        );
        assert_eq!(npai.code(RecordKind::WeavyEntrant), None);
        assert_eq!(npai.code(RecordKind::MauticContact), Some(DNC_BOUNCED));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = format!(
            "{MINIMAL}
[sync]
company_key = \"siret\"
preferred_side = \"mautic\"

[[person_fields]]
name = \"First Name\"
weavy = \"firstName\"
mautic = \"firstname\"

[[person_fields]]
name = \"npai\"
weavy = \"bouncedEmailDetected\"
mautic = \"dnc_bounced\"
"
        );
        let ConfigError::Invalid(problems) = Config::parse(&text).unwrap_err() else {
            panic!()
        };
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|p| p.contains("lowercase letters")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|p| p.contains("read-only on Mautic")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|p| p.contains("named \"email\"")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|p| p.contains("named \"siret\"")),
            "{text:?}"
        );
    }

    #[test]
    fn durations_and_labels_read_as_users_write_them() {
        let text = format!(
            "{MINIMAL}
[sync]
period = \"1h30m\"
tie_window = \"500ms\"

[[person_fields]]
name = \"email\"
weavy = \"email\"
mautic = \"email\"
direction = \"Sync only to Mautic\"
"
        );
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.sync.period, Duration::from_secs(5400));
        assert_eq!(c.sync.tie_window, Duration::from_millis(500));
        assert_eq!(c.person_fields[0].direction, Direction::WeavyWins);
        assert_eq!(
            c.person_fields[0].policy(&c.sync).tie_window_micros,
            500_000
        );
        let http = format!("{MINIMAL}\n[weavy.http]\ntimeout = \"2m\"\nbase_backoff = 0.5\n");
        let c = Config::parse(&http).unwrap();
        assert_eq!(c.weavy.http.timeout, Duration::from_secs(120));
        assert_eq!(c.weavy.http.base_backoff, Duration::from_millis(500));
        assert!(duration_text::parse("15 minutes").is_err());
        assert_eq!(duration_text::format(Duration::from_secs(900)), "15m");
    }

    /// Found by the `config` fuzz target: secret values were blotted out one after the other,
    /// so a value `*` after a value `e` multiplied the stars of each earlier replacement:
    /// exponential time and memory (an out-of-memory within 40 lines).
    #[test]
    fn blotting_out_many_tiny_secret_values_stays_linear() {
        let mut text = String::from("[weavy]\npassword = e\n");
        for _ in 0..200 {
            text.push_str("secret = *\ntoken = ***\n");
        }
        text.push_str("nonsense\n");
        let started = std::time::Instant::now();
        let ConfigError::Parse { message, .. } = Config::parse(&text).unwrap_err() else {
            panic!()
        };
        assert!(message.len() < 500, "{message}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Still blotted out where it is quoted.
        let text = format!("{MINIMAL}\n[mautic.http]\nsecret_thing = 4242\n");
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(!err.contains("4242"), "{err}");
    }

    #[test]
    fn durations_too_long_to_compute_with_are_refused() {
        let text = format!(
            "{MINIMAL}\n[sync]\noverlap_window = \"100000000000d\"\ntie_window = \"2d\"\n\n[weavy.http]\ntimeout = \"100000000000d\"\n"
        );
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("(at `timeout`)") && err.contains("86400"),
            "{err}"
        );
        let text =
            format!("{MINIMAL}\n[sync]\noverlap_window = \"100000000000d\"\ntie_window = \"2d\"\n");
        let ConfigError::Invalid(problems) = Config::parse(&text).unwrap_err() else {
            panic!()
        };
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|p| p.starts_with("sync.overlap_window") && p.contains("at most 30d")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|p| p.starts_with("sync.tie_window")),
            "{text:?}"
        );
    }

    #[test]
    fn unknown_settings_are_refused_not_ignored() {
        let text = format!("{MINIMAL}\n[sync]\nperiode = \"15m\"\n");
        let err = Config::parse(&text).unwrap_err().to_string();
        assert!(err.contains("periode"), "{err}");
    }

    #[test]
    fn secrets_come_from_the_environment_and_never_print() {
        let mut c = Config::parse(MINIMAL).unwrap();
        c.weavy.password_env = "FIELDSYNC_TEST_UNSET_VARIABLE_1".into();
        let err = c.weavy_password().unwrap_err().to_string();
        assert!(err.contains("FIELDSYNC_TEST_UNSET_VARIABLE_1"), "{err}");
        c.weavy.password = Some(Secret::new("hunter2"));
        let s = c.weavy_password().unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_broken_line_holding_a_secret_is_never_quoted() {
        for (line, secret) in [
            ("password = \"hunter2-xyz", "hunter2-xyz"),
            ("password = 98765432", "98765432"),
            ("password = hunter2-xyz", "hunter2-xyz"),
            ("password = [\"hunter2-xyz\"]", "hunter2-xyz"),
            ("passwrd = \"hunter2-xyz\"", "hunter2-xyz"),
        ] {
            let text = MINIMAL.replace("user = \"api\"", &format!("user = \"api\"\n{line}"));
            let ConfigError::Parse { message, .. } = Config::parse(&text).unwrap_err() else {
                panic!("{line}: not a parse error")
            };
            assert!(!message.contains(secret), "{line}: {message}");
            assert!(message.starts_with("line 5, column"), "{line}: {message}");
            assert!(message.contains("(at `pass"), "{line}: {message}");
        }
        // Other errors still say what is wrong.
        let text = format!("{MINIMAL}\n[sync]\nperiod = 15\n");
        let ConfigError::Parse { message, .. } = Config::parse(&text).unwrap_err() else {
            panic!()
        };
        assert!(
            message.contains("line 11") && message.contains("invalid type"),
            "{message}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_file_with_a_secret_gets_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fieldsync.toml");
        std::fs::write(
            &path,
            format!("{MINIMAL}\n")
                .replace("user = \"api\"", "user = \"api\"\npassword = \"s3cret\""),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(!c.warnings[0].contains("s3cret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(Config::load(&path).unwrap().warnings.is_empty());
        assert_eq!(c.store.path, dir.path().join("fieldsync.db"));
    }

    #[test]
    fn the_engines_field_names_are_not_taken_for_something_else() {
        let base = "[weavy]\nproject_code = \"P\"\nuser = \"u\"\n[mautic]\nbase_url = \"https://m.example.com\"\nclient_id = \"1_x\"\n";
        let with = |extra: &str| {
            Config::parse(&format!(
                "{base}{extra}[[person_fields]]\nname = \"email\"\nweavy = \"email\"\nmautic = \"email\"\n"
            ))
        };
        let e = with(
            "[[person_fields]]\nname = \"company\"\nweavy = \"xSociete\"\nmautic = \"societe\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("'company' is the engine's name for a person's company"),
            "{e}"
        );
        let e = Config::parse(&format!(
            "{base}[[person_fields]]\nname = \"email\"\nweavy = \"email\"\nmautic = \"email\"\ntype = \"number\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("must be a text mapping"), "{e}");
        assert!(with("").is_ok());
    }

    #[test]
    fn a_mistyped_setting_gets_a_suggestion() {
        let e = Config::parse(&format!(
            "{}\noverlap_windw = \"5m\"\n",
            "[weavy]\nproject_code = \"P\"\nuser = \"u\"\n[mautic]\nbase_url = \"https://m.example.com\"\nclient_id = \"1_x\"\n[sync]"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("did you mean 'overlap_window'?"), "{e}");
        assert!(e.contains("line "), "{e}");
    }

    #[test]
    fn mappings_are_checked_against_live_fields() {
        let c = Config::parse(MINIMAL).unwrap();
        let f = |code: &str, writable: bool| FieldInfo {
            code: code.into(),
            label: code.into(),
            raw_type: "text".into(),
            field_type: FieldType::Text,
            custom: false,
            writable,
            required: false,
            unique: false,
            decimals: None,
        };
        let mut fields = BTreeMap::new();
        fields.insert(
            RecordKind::WeavyContact,
            vec![
                f("email", true),
                f("firstName", true),
                f("lastName", true),
                f("phoneNumber", true),
                f("bouncedEmailDetected", true),
            ],
        );
        fields.insert(
            RecordKind::MauticContact,
            vec![
                f("email", true),
                f("firstname", true),
                f("lastname", false),
                f("phone", true),
                f("mobile", true),
                f(DNC_BOUNCED, false),
            ],
        );
        let problems: Vec<String> = c
            .validate_fields(&fields)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("has no field 'mobilePhoneNumber'"),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("'lastname' cannot be written on mautic"),
            "{problems:?}"
        );
    }
}
