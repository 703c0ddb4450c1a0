//! The weavy connector: Divalto weavy's REST API (`API-NOTES.md`, "Divalto weavy") behind the
//! [`Connector`] trait. Every request goes through [`Http::send`] (retries, back-off, 429,
//! 401 refresh, body cap, counting, concurrency bound).
//!
//! How each quirk and each **unknown** of the notes is handled:
//! - **Tokens**: `POST /v1/Authenticate` with `userName`; the token is cached and renewed
//!   before `expiresIn` runs out (60 s margin, at most half the lifetime) and after a 401.
//!   Concurrent calls that all meet the same 401 renew it once (the token carries a
//!   generation). Authentication has its own [`Http`] (same counter) so that renewing a token
//!   never waits for a concurrency permit held by the very call that needs it. The answer of
//!   Authenticate is never quoted, the password never leaves [`Secret`].
//! - **Paging** ([`paging`]): what `offset` counts (rows or pages) is found on the first
//!   pull and kept; rows are paged with an overlap (rows) or each page read again after the
//!   next (pages), so that a row deleted or edited before the position can never make a later
//!   one slip by unseen; the end is an answer with nothing new, never a short page. A pull
//!   that cannot line its pages up stops with a transient error rather than skip a record.
//! - **`srvDate` filters** ([`zone`]): a pull ends at its start (`srvDate LessThan`), so
//!   rows only ever leave it while it pages, and the cursor moves to that end. Which zone a
//!   filter compares in (the zone `srvDate` is shown in, or UTC) is found by one probe on one
//!   row and kept; until then both bounds are the earliest wall of both readings. The zone
//!   `srvDate` is shown in is learned from the `srvDate` / `srvDateUTC` pairs of the rows.
//!   `fieldsync check` says what was found.
//! - **Asked for**: the key, `srvDate` and `srvDateUTC` are always in `returnFields` (a
//!   server may send only what is asked for); rows with more fields are read the same.
//! - **Times read**: `modified_at` is `srvDateUTC`; when absent, `srvDate` read in the project
//!   zone (ambiguous -> the earlier instant, nonexistent -> shifted forward by the gap).
//! - **Values** are read as their mapping's type (the Dictionary's when not mapped) and
//!   written shaped by the Dictionary's type, so that what is written reads back the same
//!   whatever the Dictionary calls the field: a date-time is a project wall time
//!   `YYYY-MM-DDTHH:MM:SS` both ways, in a `datetime` field or a `text` one; a date is
//!   `YYYY-MM-DD` (its midnight wall time in a date-time field); a number or a boolean in a
//!   text field is its text; a list is one string `a|b`; blank is `null`. A value that cannot
//!   be read as its type is kept as `Value::Text(raw)`: one odd value never fails a page.
//! - **Inserts**: one POST per record (no batch endpoint), concurrently, the key being the
//!   caller-chosen id, never sent twice blind: when the answer is lost (a timeout, a cut
//!   answer, a 5xx) or the POST is refused (a duplicate key may answer 400, 409 or 500), the
//!   record is read back by id; there, it is this insert's earlier attempt (the ids are
//!   fieldsync's own, e.g. `wm-<mautic id>`) and its fields are PUT; absent after a lost
//!   answer, the POST is sent again.
//! - **Updates** carry the key in their body, as the vendor's connector sends them.
//! - **Rights**: 401 (after one fresh token) or 403 on an authenticated call is a missing
//!   right: [`ErrorKind::MissingRight`] names the Studio table and column to tick.
//! - **Answers to writes** are ignored beyond their status; error bodies are read for a
//!   `message` when they have one, else quoted briefly.
//! - **Foreign keys**: `text(foreignkey)` fields are read-only, except a contact's
//!   `customer_ID`, which is the contact's company and must be writable.

mod paging;
mod parse;
mod zone;

pub use paging::Unit as OffsetCount;
use parse::{
    DictionaryAnswer, dictionary_from, message_of, parse_naive, parse_row, parse_stamp, renew_after,
};
pub use parse::{
    SelectRows, field_type_of, local_to_utc, parse_authenticate, parse_select, parse_value,
    value_to_json,
};
pub use zone::{FilterZone, StoredZone, filter_value, until_value};

use super::http::{Call, CallKind, Http, HttpSettings, Reply, RequestCounter};
use super::{
    Connector, ConnectorError, ErrorKind, FieldInfo, Pager, RecordWrite, RemoteRecord, Secret,
    WeavyRight, WriteOutcome,
};
use crate::model::{FieldType, RecordKind, Side, Value};
use chrono::{DateTime, SubsecRound, Utc};
use chrono_tz::Tz;
use futures::StreamExt;
use reqwest::{Method, Url};
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// weavy's European API.
pub const DEFAULT_BASE_URL: &str = "https://api.weavy.divalto.com";
/// The server stamps every record carries: local time with no zone, and UTC.
pub const SRV_DATE: &str = "srvDate";
pub const SRV_DATE_UTC: &str = "srvDateUTC";
/// `expiresIn` when Authenticate does not say (the documented value).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(43_200);

/// The standard fields of `customer` (anything else in its Dictionary is custom).
pub const CUSTOMER_FIELDS: &[&str] = &[
    "customer_ID",
    "name",
    "email",
    "phoneNumber",
    "address1",
    "address2",
    "postalCode",
    "city",
    "country",
    "website",
    "siretNumber",
    "vatIntra",
    "employeeCount",
    "isProspect",
    "user_ID",
];
/// The standard fields of `customercontact`.
pub const CONTACT_FIELDS: &[&str] = &[
    "customercontact_ID",
    "customer_ID",
    "civility",
    "lastName",
    "firstName",
    "email",
    "phoneNumber",
    "mobilePhoneNumber",
    "jobTitle",
    "emailOptIn",
    "bouncedEmailDetected",
    "closedDate",
];
/// The standard fields of `marketinginbound` (beyond `email` they are not documented: these
/// are the plausible ones the simulator has; others are reported as custom, which is harmless).
pub const ENTRANT_FIELDS: &[&str] = &[
    "marketinginbound_ID",
    "email",
    "lastName",
    "firstName",
    "phoneNumber",
    "mobilePhoneNumber",
    "companyName",
    "postalCode",
    "city",
    "origin",
    "comment",
    "receivedDate",
];

/// The standard fields of a weavy table; empty for other kinds.
pub fn standard_fields(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::WeavyCustomer => CUSTOMER_FIELDS,
        RecordKind::WeavyContact => CONTACT_FIELDS,
        RecordKind::WeavyEntrant => ENTRANT_FIELDS,
        _ => &[],
    }
}

/// Where and as whom to reach one weavy project.
#[derive(Debug, Clone)]
pub struct WeavySettings {
    /// `https://api.weavy.divalto.com` (Europe) or `https://swing-ca.swingmobility.com`.
    pub base_url: String,
    pub project_code: String,
    pub user: String,
    pub password: Secret,
    /// The zone of `srvDate` and of zone-less date-times (unknown on the real service;
    /// the project's zone is assumed).
    pub time_zone: Tz,
    pub http: HttpSettings,
    /// The type each mapped field is read as, by table and field code: the mapping's, so
    /// that a value is read back with the type it was written with whatever the Dictionary
    /// calls the field (a date-time in a `text` field is a project wall time both ways).
    pub value_types: HashMap<RecordKind, HashMap<String, FieldType>>,
}

impl WeavySettings {
    /// Settings with the European URL, Europe/Paris and the default HTTP tunables.
    pub fn new(project_code: impl Into<String>, user: impl Into<String>, password: Secret) -> Self {
        WeavySettings {
            base_url: DEFAULT_BASE_URL.to_owned(),
            project_code: project_code.into(),
            user: user.into(),
            password,
            time_zone: chrono_tz::Europe::Paris,
            http: HttpSettings::default(),
            value_types: HashMap::new(),
        }
    }
}

/// A client of one weavy project. Cheap to clone and share: everything is behind an `Arc`.
#[derive(Debug, Clone)]
pub struct WeavyClient {
    inner: Arc<Inner>,
}

/// What a [`WeavyClient`] shares between its clones and its pagers: the settings, the two
/// HTTP clients, the cached token and the cached dictionaries.
#[derive(Debug)]
struct Inner {
    base: Url,
    project_code: String,
    user: String,
    password: Secret,
    tz: Tz,
    http: Http,
    /// Authenticate only: its own concurrency permits, the same counter.
    auth_http: Http,
    token: tokio::sync::Mutex<Option<Token>>,
    generation: AtomicU64,
    dictionaries: Mutex<HashMap<RecordKind, Arc<Dictionary>>>,
    value_types: HashMap<RecordKind, HashMap<String, FieldType>>,
    /// What `offset` counts, once a pull found it out.
    offset_count: Mutex<Option<OffsetCount>>,
    /// The offsets seen between `srvDate` and `srvDateUTC`.
    stored_zone: Mutex<StoredZone>,
    /// Which zone a `srvDate` filter compares in, once found.
    filter_zone: Mutex<Option<FilterZone>>,
    /// The tables whose stamps were read for the zone.
    stamps_read: Mutex<std::collections::HashSet<RecordKind>>,
    /// The server's clock less fieldsync's, from the `Date` of the last answer.
    skew: Mutex<Option<chrono::Duration>>,
}

/// What [`WeavyClient::survey`] found about one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Survey {
    /// What `offset` counts, when the table had enough rows to tell.
    pub offset: Option<OffsetCount>,
    /// The rows of the first page.
    pub first_page: usize,
    pub rows_read: usize,
    pub zone: StoredZone,
    pub filter: Option<FilterZone>,
}

impl Survey {
    /// One line for `fieldsync check`.
    pub fn describe(&self, tz: Tz) -> String {
        let paging = match self.offset {
            Some(OffsetCount::Rows) => {
                format!("offset counts rows, {} rows a page", self.first_page)
            }
            Some(OffsetCount::Pages { size }) => format!(
                "offset counts pages of {size} rows (each page is read twice, to be sure none slipped)"
            ),
            None if self.first_page == 0 => "no rows to tell what offset counts".to_owned(),
            None => format!(
                "all {} rows fit in one page: what offset counts is found when there are more",
                self.first_page
            ),
        };
        let filter = match self.filter {
            Some(f) => f.to_string(),
            None => "which zone a srvDate filter compares in is not known yet (no row shows an offset): both are allowed for".to_owned(),
        };
        format!("{paging}; {}; {filter}", self.zone.describe(tz))
    }
}

/// A bearer token, the generation/// A bearer token, the generation that tells a renewed one from a stale one, and when to
/// renew it without waiting for a 401.
#[derive(Debug)]
struct Token {
    value: Secret,
    generation: u64,
    renew_at: Instant,
}

/// One table's Dictionary as fieldsync uses it: the fields, the types they are stored as
/// (which shape what is written) and the types they are read as (the mapping's, else the
/// stored one).
#[derive(Debug)]
pub struct Dictionary {
    key: String,
    fields: Vec<FieldInfo>,
    types: HashMap<String, FieldType>,
    read_types: HashMap<String, FieldType>,
}

impl Dictionary {
    /// Reads a `GET /v1/Dictionary/{project}/{entity}` answer for the table `kind`.
    pub fn parse(kind: RecordKind, body: &[u8]) -> Result<Dictionary, ErrorKind> {
        let answer: DictionaryAnswer = super::http::json(body)
            .map_err(|e| ErrorKind::Decode(format!("a Dictionary answer ({e})")))?;
        Ok(dictionary_from(kind, answer))
    }

    /// The table's fields, custom ones included.
    pub fn fields(&self) -> &[FieldInfo] {
        &self.fields
    }

    /// The type a field is stored as.
    fn type_of(&self, field: &str) -> Option<FieldType> {
        self.types.get(field).copied()
    }

    /// The type a field is read as: its mapping's when it is mapped.
    fn read_type_of(&self, field: &str) -> Option<FieldType> {
        self.read_types
            .get(field)
            .or_else(|| self.types.get(field))
            .copied()
    }

    /// Reads mapped fields as their mappings' types.
    fn with_read_types(mut self, types: Option<&HashMap<String, FieldType>>) -> Self {
        self.read_types = types.cloned().unwrap_or_default();
        self
    }

    /// The key, the server stamps and every field: what a Select asks for. The key and the
    /// stamps are always asked for by name (whether a server sends what is not asked for is
    /// unknown).
    fn return_fields(&self) -> Vec<Json> {
        let mut names = vec![self.key.as_str(), SRV_DATE, SRV_DATE_UTC];
        for f in &self.fields {
            if !names.contains(&f.code.as_str()) {
                names.push(f.code.as_str());
            }
        }
        names
            .into_iter()
            .map(|f| json!({ "fieldName": f }))
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The API entity of a weavy kind.
fn entity_of(kind: RecordKind) -> Option<&'static str> {
    match kind {
        RecordKind::WeavyCustomer | RecordKind::WeavyContact | RecordKind::WeavyEntrant => {
            Some(kind.api_name())
        }
        _ => None,
    }
}

/// `customer_ID`, `customercontact_ID`, `marketinginbound_ID`.
fn key_of(entity: &str) -> String {
    format!("{entity}_ID")
}

impl WeavyClient {
    pub fn new(
        settings: WeavySettings,
        counter: Arc<RequestCounter>,
    ) -> Result<Self, ConnectorError> {
        let invalid = |m: String| {
            ConnectorError::new(
                Side::Weavy,
                "read the weavy settings",
                ErrorKind::Invalid(m),
            )
        };
        let base = Url::parse(settings.base_url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                invalid(format!(
                    "weavy base_url '{}' is not an http(s) URL",
                    settings.base_url
                ))
            })?;
        if settings.project_code.trim().is_empty() {
            return Err(invalid("the weavy project code is empty".into()));
        }
        if settings.user.trim().is_empty() || settings.password.is_empty() {
            return Err(invalid(
                "the weavy user name or password is empty; set them in the config or environment"
                    .into(),
            ));
        }
        let http = Http::new(Side::Weavy, settings.http.clone(), counter.clone())?;
        let auth_http = Http::new(Side::Weavy, settings.http.clone(), counter)?;
        Ok(WeavyClient {
            inner: Arc::new(Inner {
                base,
                project_code: settings.project_code.trim().to_owned(),
                user: settings.user,
                password: settings.password,
                tz: settings.time_zone,
                http,
                auth_http,
                token: tokio::sync::Mutex::new(None),
                generation: AtomicU64::new(0),
                dictionaries: Mutex::new(HashMap::new()),
                value_types: settings.value_types,
                offset_count: Mutex::new(None),
                stored_zone: Mutex::new(StoredZone::default()),
                filter_zone: Mutex::new(None),
                stamps_read: Mutex::new(std::collections::HashSet::new()),
                skew: Mutex::new(None),
            }),
        })
    }

    /// The project's zone, in which `srvDate` and zone-less date-times are read.
    pub fn time_zone(&self) -> Tz {
        self.inner.tz
    }

    /// Authenticates now (a fresh token), for `fieldsync check`.
    pub async fn check_auth(&self) -> Result<(), ConnectorError> {
        self.token(true, None).await.map(|_| ())
    }

    /// Tests one right on one table, changing no data (for `fieldsync check`):
    /// - read: a Select at offset 0 asking for the key only. It proves the right.
    /// - insert: a POST whose body has an empty key. The simulator, like any server that
    ///   checks rights before validating a body, answers 403 without the right and 400 with
    ///   it; nothing is created either way (a key is required). A server that validated first
    ///   would make this probe pass without the right: the first real insert would then
    ///   report the missing right.
    /// - update: a PUT of no field on an id that does not exist. 403 without the right,
    ///   404 with it; nothing can change.
    pub async fn check_right(
        &self,
        kind: RecordKind,
        right: WeavyRight,
    ) -> Result<(), ConnectorError> {
        let entity = self.entity(kind, "check a right")?;
        let key = key_of(entity);
        let name = format!("check '{}' on {entity}", right.studio_column());
        let (call_kind, method, url, body) = match right {
            WeavyRight::Read => (
                CallKind::List,
                Method::POST,
                self.url(&["v1", "Data", &self.inner.project_code, "Select"]),
                json!({"entityName": entity, "offset": 0, "returnFields": [{"fieldName": key}]}),
            ),
            WeavyRight::Insert => (
                CallKind::Insert,
                Method::POST,
                self.url(&["v1", "Data", &self.inner.project_code, entity]),
                json!({ key: null }),
            ),
            WeavyRight::Update => {
                let probe = format!(
                    "fieldsync-right-probe-{}",
                    Utc::now().timestamp_nanos_opt().unwrap_or_default()
                );
                (
                    CallKind::Update,
                    Method::PUT,
                    self.url(&["v1", "Data", &self.inner.project_code, entity, &probe]),
                    json!({}),
                )
            }
        };
        let call = Call::new(call_kind, &name);
        let reply = self.send(call, method, &url, Some(&body)).await?;
        match (right, reply.status) {
            (_, 401 | 403) => Err(self.missing_right(&call, kind, right)),
            (_, s) if (200..300).contains(&s) => Ok(()),
            (WeavyRight::Insert, 400 | 409 | 422) => Ok(()),
            (WeavyRight::Update, 400 | 404 | 422) => Ok(()),
            (_, status) => Err(self.inner.http.error(
                &call,
                ErrorKind::Rejected {
                    status,
                    message: message_of(&reply),
                },
            )),
        }
    }

    fn entity(&self, kind: RecordKind, what: &str) -> Result<&'static str, ConnectorError> {
        entity_of(kind).ok_or_else(|| {
            ConnectorError::new(
                Side::Weavy,
                format!("{what} on {kind}"),
                ErrorKind::Invalid(format!("{kind} is not a weavy table")),
            )
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .expect("checked in new: a base URL")
            .pop_if_empty()
            .extend(segments);
        url
    }

    fn missing_right(
        &self,
        call: &Call<'_>,
        kind: RecordKind,
        right: WeavyRight,
    ) -> ConnectorError {
        self.inner.http.error(
            call,
            ErrorKind::MissingRight {
                table: kind.label(),
                column: right.studio_column(),
            },
        )
    }

    /// A token: the cached one while it is fresh, else a new one. `fresh` asks for a renewal
    /// after a 401 met with the token of generation `stale`; when another call has renewed
    /// it since, its token is used instead of authenticating again.
    async fn token(
        &self,
        fresh: bool,
        stale: Option<u64>,
    ) -> Result<(Secret, u64), ConnectorError> {
        let mut slot = self.inner.token.lock().await;
        if let Some(t) = slot.as_ref() {
            let refused = fresh && stale.is_none_or(|g| g == t.generation);
            if !refused && Instant::now() < t.renew_at {
                return Ok((t.value.clone(), t.generation));
            }
        }
        let token = self.authenticate().await?;
        let out = (token.value.clone(), token.generation);
        *slot = Some(token);
        Ok(out)
    }

    async fn authenticate(&self) -> Result<Token, ConnectorError> {
        let i = &self.inner;
        let url = self.url(&["v1", "Authenticate"]);
        let body = json!({
            "scope": "API",
            "projectCode": i.project_code,
            "userName": i.user,
            "password": i.password.expose(),
        });
        let call = Call::new(CallKind::Auth, "authenticate");
        let refused = |status: u16| {
            i.auth_http.error(
                &call,
                ErrorKind::Auth {
                    status,
                    message: format!(
                        "weavy refused user '{}' on project '{}' (user name, password or project code)",
                        i.user, i.project_code
                    ),
                },
            )
        };
        let (url, body_ref) = (&url, &body);
        let reply = i
            .auth_http
            .send(call, |fresh| async move {
                // A second try after a 401 would only be refused again.
                if fresh {
                    return Err(refused(401));
                }
                Ok(i.auth_http.client().post(url.clone()).json(body_ref))
            })
            .await?;
        drop(body);
        match reply.status {
            200..=299 => {}
            401 | 403 => return Err(refused(reply.status)),
            status => {
                return Err(i.auth_http.error(
                    &call,
                    ErrorKind::Auth {
                        status,
                        message: "unexpected answer to Authenticate".into(),
                    },
                ));
            }
        }
        let (value, lifetime) =
            parse_authenticate(&reply.body).map_err(|e| i.auth_http.error(&call, e))?;
        Ok(Token {
            value,
            generation: i.generation.fetch_add(1, Ordering::Relaxed) + 1,
            renew_at: Instant::now() + renew_after(lifetime),
        })
    }

    /// Sends an authenticated request through [`Http::send`], renewing the token on a 401.
    async fn send(
        &self,
        call: Call<'_>,
        method: Method,
        url: &Url,
        body: Option<&Json>,
    ) -> Result<Reply, ConnectorError> {
        let used: Mutex<Option<u64>> = Mutex::new(None);
        let (used, method) = (&used, &method);
        self.inner
            .http
            .send(call, |fresh| async move {
                let stale = if fresh { *lock(used) } else { None };
                let (token, generation) = self.token(fresh, stale).await?;
                *lock(used) = Some(generation);
                let mut request = self
                    .inner
                    .http
                    .client()
                    .request(method.clone(), url.clone())
                    .bearer_auth(token.expose())
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(b) = body {
                    request = request.json(b);
                }
                Ok(request)
            })
            .await
            .inspect(|reply| {
                if let Some(date) = reply.server_date() {
                    *lock(&self.inner.skew) = Some(date - Utc::now());
                }
            })
    }

    /// The server's clock now, as far as its answers tell (fieldsync's before any answer).
    fn server_now(&self) -> DateTime<Utc> {
        Utc::now() + lock(&self.inner.skew).unwrap_or_else(chrono::Duration::zero)
    }

    /// The table's dictionary: the cached one, else read.
    async fn dictionary(&self, kind: RecordKind) -> Result<Arc<Dictionary>, ConnectorError> {
        if let Some(d) = self.cached_dictionary(kind) {
            return Ok(d);
        }
        self.load_dictionary(kind).await
    }

    fn cached_dictionary(&self, kind: RecordKind) -> Option<Arc<Dictionary>> {
        lock(&self.inner.dictionaries).get(&kind).cloned()
    }

    /// Reads the table's dictionary and caches it (custom fields appear at once, so
    /// [`Connector::fields`] always reads it afresh).
    async fn load_dictionary(&self, kind: RecordKind) -> Result<Arc<Dictionary>, ConnectorError> {
        let entity = self.entity(kind, "read the fields")?;
        let name = format!("read the dictionary of {entity}");
        let call = Call::new(CallKind::Fields, &name);
        let url = self.url(&["v1", "Dictionary", &self.inner.project_code, entity]);
        let reply = self.send(call, Method::GET, &url, None).await?;
        self.check_status(&call, kind, WeavyRight::Read, &reply)?;
        let dictionary = Arc::new(
            Dictionary::parse(kind, &reply.body)
                .map_err(|e| self.inner.http.error(&call, e))?
                .with_read_types(self.inner.value_types.get(&kind)),
        );
        lock(&self.inner.dictionaries).insert(kind, dictionary.clone());
        Ok(dictionary)
    }

    /// Ok for a 2xx; a 401/403 is the missing `right`; any other status a rejection.
    fn check_status(
        &self,
        call: &Call<'_>,
        kind: RecordKind,
        right: WeavyRight,
        reply: &Reply,
    ) -> Result<(), ConnectorError> {
        match reply.status {
            s if (200..300).contains(&s) => Ok(()),
            401 | 403 => Err(self.missing_right(call, kind, right)),
            404 => Err(self.inner.http.error(call, ErrorKind::NotFound)),
            status => Err(self.inner.http.error(
                call,
                ErrorKind::Rejected {
                    status,
                    message: message_of(reply),
                },
            )),
        }
    }

    fn pager(&self, kind: RecordKind, call: CallKind, filter: Filter) -> WeavyPager {
        let error = entity_of(kind).is_none().then(|| {
            ConnectorError::new(
                Side::Weavy,
                format!("select {kind}"),
                ErrorKind::Invalid(format!("{kind} is not a weavy table")),
            )
        });
        WeavyPager {
            client: self.clone(),
            kind,
            call,
            filter,
            filters: None,
            paging: paging::Paging::new(*lock(&self.inner.offset_count)),
            server_time: None,
            until: None,
            error,
        }
    }

    /// What the client found out about the server so far: what `offset` counts and the zone
    /// `srvDate` is shown in.
    pub fn learned(&self) -> (Option<OffsetCount>, StoredZone, Option<FilterZone>) {
        (
            *lock(&self.inner.offset_count),
            lock(&self.inner.stored_zone).clone(),
            *lock(&self.inner.filter_zone),
        )
    }

    /// What `fieldsync check` reports about how the server reads a table: what `offset`
    /// counts and how many rows a page holds (found with the first pages of the table, key
    /// and stamps only), the zone `srvDate` is shown in and the zone a filter compares in.
    pub async fn survey(&self, kind: RecordKind) -> Result<Survey, ConnectorError> {
        let entity = self.entity(kind, "survey")?;
        self.learn_zone(kind).await?;
        let key = key_of(entity);
        let name = format!("survey {entity}");
        let url = self.url(&["v1", "Data", &self.inner.project_code, "Select"]);
        let stamps: Vec<Json> = [key.as_str(), SRV_DATE, SRV_DATE_UTC]
            .iter()
            .map(|f| json!({ "fieldName": f }))
            .collect();
        let mut paging = paging::Paging::new(None);
        let mut first_page = None;
        let mut rows = 0;
        for _ in 0..6 {
            let Some(offset) = paging.next_offset() else {
                break;
            };
            let call = Call::new(CallKind::List, &name);
            let body = json!({"entityName": entity, "offset": offset, "returnFields": stamps});
            let reply = self.send(call, Method::POST, &url, Some(&body)).await?;
            self.check_status(&call, kind, WeavyRight::Read, &reply)?;
            let answer = parse_select(kind, None, self.inner.tz, &reply.body)
                .map_err(|e| self.inner.http.error(&call, e))?;
            lock(&self.inner.stored_zone).merge(&answer.zone);
            first_page.get_or_insert(answer.keys.len());
            rows += answer.keys.len();
            if paging.answer(answer.keys, answer.records).is_err() {
                break;
            }
            if paging.unit().0.is_some() {
                break;
            }
        }
        let offset = paging.unit().0;
        if let Some(unit) = offset {
            lock(&self.inner.offset_count).get_or_insert(unit);
        }
        Ok(Survey {
            offset,
            first_page: first_page.unwrap_or(0),
            rows_read: rows,
            zone: lock(&self.inner.stored_zone).clone(),
            filter: *lock(&self.inner.filter_zone),
        })
    }

    /// Reads the first rows of a table for their stamps only (the key, `srvDate`,
    /// `srvDateUTC`): the zone `srvDate` is shown in; then, while it is not known, which zone
    /// a `srvDate` filter compares in (see [`zone::filter_probe`]). Once per table and
    /// client; the probe again while the filter's zone is not known.
    pub async fn learn_zone(&self, kind: RecordKind) -> Result<(), ConnectorError> {
        let entity = self.entity(kind, "read the stamps")?;
        let key = key_of(entity);
        let known = lock(&self.inner.filter_zone).is_some();
        if known || !lock(&self.inner.stamps_read).insert(kind) {
            return Ok(());
        }
        let name = format!("read the stamps of {entity}");
        let call = Call::new(CallKind::List, &name);
        let url = self.url(&["v1", "Data", &self.inner.project_code, "Select"]);
        let stamps: Vec<Json> = [key.as_str(), SRV_DATE, SRV_DATE_UTC]
            .iter()
            .map(|f| json!({ "fieldName": f }))
            .collect();
        let body = json!({"entityName": entity, "offset": 0, "returnFields": stamps});
        let reply = self.send(call, Method::POST, &url, Some(&body)).await?;
        self.check_status(&call, kind, WeavyRight::Read, &reply)?;
        let rows: Vec<Json> = reply.json().map_err(|e| self.inner.http.error(&call, e))?;
        let mut seen = StoredZone::default();
        let mut sample = None;
        for row in &rows {
            let id = row.get(&key).and_then(Json::as_str);
            let wall = row
                .get(SRV_DATE)
                .and_then(Json::as_str)
                .and_then(parse_naive);
            let utc = row.get(SRV_DATE_UTC).and_then(|v| parse_stamp(v, None));
            if let (Some(id), Some(wall), Some(utc)) = (id, wall, utc) {
                seen.observe(wall, utc);
                let offset = (wall - utc.naive_utc()).num_seconds() as i32;
                if offset != 0 && offset % 900 == 0 && sample.is_none() {
                    sample = Some((id.to_owned(), utc, offset));
                }
            }
        }
        lock(&self.inner.stored_zone).merge(&seen);
        let Some((id, utc, offset)) = sample else {
            // No row to tell the readings apart: the filters allow for both.
            lock(&self.inner.stamps_read).remove(&kind);
            return Ok(());
        };
        let name = format!("find which zone a srvDate filter of {entity} compares in");
        let call = Call::new(CallKind::List, &name);
        let body = json!({
            "entityName": entity,
            "offset": 0,
            "returnFields": [{"fieldName": key}],
            "filterFields": [
                {"filterKey": "k1", "fieldName": key, "operator": "equal", "filterValues": [id]},
                {"filterKey": "k2", "fieldName": SRV_DATE, "operator": "GreaterThan",
                 "filterValues": [zone::filter_probe(utc, offset)]},
            ],
        });
        let reply = self.send(call, Method::POST, &url, Some(&body)).await?;
        self.check_status(&call, kind, WeavyRight::Read, &reply)?;
        let rows: Vec<Json> = reply.json().map_err(|e| self.inner.http.error(&call, e))?;
        let matched = rows
            .iter()
            .any(|r| r.get(&key).and_then(Json::as_str) == Some(id.as_str()));
        let found = FilterZone::from_probe(offset, matched);
        tracing::info!(entity, "weavy: {found}");
        *lock(&self.inner.filter_zone) = Some(found);
        Ok(())
    }

    async fn get_one(
        &self,
        kind: RecordKind,
        id: &str,
        dictionary: Option<&Dictionary>,
    ) -> Result<Option<RemoteRecord>, ConnectorError> {
        let entity = self.entity(kind, "get")?;
        let name = format!("get {entity}");
        let call = Call::new(CallKind::Get, &name).record(id);
        let url = self.url(&["v1", "Data", &self.inner.project_code, entity, id]);
        let reply = self.send(call, Method::GET, &url, None).await?;
        if reply.status == 404 {
            return Ok(None);
        }
        self.check_status(&call, kind, WeavyRight::Read, &reply)?;
        let row: Map<String, Json> = reply.json().map_err(|e| self.inner.http.error(&call, e))?;
        let mut row = row;
        let key = key_of(entity);
        if !row.contains_key(&key) {
            row.insert(key, Json::String(id.to_owned()));
        }
        Ok(parse_row(kind, dictionary, self.inner.tz, &row))
    }

    /// One PUT of the given fields, the key in the body as the vendor's connector sends it
    /// (whether a server requires it is unknown).
    async fn update_one(
        &self,
        kind: RecordKind,
        dictionary: Option<&Dictionary>,
        id: &str,
        fields: &[(String, Value)],
    ) -> WriteOutcome {
        let entity = kind.api_name();
        let name = format!("update {entity}");
        let call = Call::new(CallKind::Update, &name).record(id);
        let mut body = self.body(dictionary, fields);
        body.insert(key_of(entity), Json::String(id.to_owned()));
        let body = Json::Object(body);
        let url = self.url(&["v1", "Data", &self.inner.project_code, entity, id]);
        match self.send(call, Method::PUT, &url, Some(&body)).await {
            Err(e) => WriteOutcome::Failed(e),
            Ok(reply) if reply.is_success() => WriteOutcome::Done {
                id: id.to_owned(),
                record: None,
                refused: Vec::new(),
            },
            Ok(reply) => WriteOutcome::Rejected(
                self.check_status(&call, kind, WeavyRight::Update, &reply)
                    .expect_err("not a success"),
            ),
        }
    }

    /// One POST, never sent twice blind. When its answer is lost (a timeout, a cut answer, a
    /// 5xx), the record is read back by its key before anything else is sent: there, it is
    /// this insert's (the key is fieldsync's own, e.g. `wm-<mautic id>`), and its fields are
    /// PUT so that it holds them whatever an earlier attempt left; absent, the POST is sent
    /// again. When the POST is refused (a duplicate key answers 400, 409 or 500 depending on
    /// the server: unknown), the same look-up tells an earlier attempt from a real refusal.
    async fn insert_one(
        &self,
        kind: RecordKind,
        dictionary: Option<&Dictionary>,
        item: RecordWrite,
    ) -> WriteOutcome {
        let entity = kind.api_name();
        let key = key_of(entity);
        let name = format!("insert {entity}");
        let Some(id) = item.id.filter(|id| !id.trim().is_empty()) else {
            return WriteOutcome::Rejected(ConnectorError::new(
                Side::Weavy,
                name,
                ErrorKind::Invalid(format!(
                    "an insert into weavy needs the caller-chosen {key}"
                )),
            ));
        };
        let fields: Vec<(String, Value)> =
            item.fields.into_iter().filter(|(k, _)| *k != key).collect();
        let call = Call::new(CallKind::Insert, &name).record(&id).check_first();
        let mut body = self.body(dictionary, &fields);
        body.insert(key, Json::String(id.clone()));
        let body = Json::Object(body);
        let url = self.url(&["v1", "Data", &self.inner.project_code, entity]);
        let attempts = self.inner.http.settings().max_attempts.max(1);
        let mut attempt = 0;
        let mut lost = None;
        loop {
            attempt += 1;
            let refusal = match self.send(call, Method::POST, &url, Some(&body)).await {
                Ok(reply) if reply.is_success() => {
                    return WriteOutcome::Done {
                        id,
                        record: None,
                        refused: Vec::new(),
                    };
                }
                Ok(reply) if matches!(reply.status, 401 | 403) => {
                    return WriteOutcome::Rejected(self.missing_right(
                        &call,
                        kind,
                        WeavyRight::Insert,
                    ));
                }
                Ok(reply) => Some(self.inner.http.error(
                    &call,
                    ErrorKind::Rejected {
                        status: reply.status,
                        message: message_of(&reply),
                    },
                )),
                Err(e) if matches!(e.kind, ErrorKind::OutcomeUnknown(_)) => {
                    tracing::debug!(entity, id = %id, error = %e, "insert answer lost: reading the record back");
                    lost = Some(e);
                    None
                }
                Err(e) => return WriteOutcome::Failed(e),
            };
            match self.get_one(kind, &id, dictionary).await {
                Ok(Some(_)) => {
                    tracing::debug!(entity, id = %id, "the record is there: its fields are written to it");
                    return self.update_one(kind, dictionary, &id, &fields).await;
                }
                Ok(None) => match refusal {
                    Some(refusal) => return WriteOutcome::Rejected(refusal),
                    // It did not land: send it again, unless that was the last try.
                    None if attempt < attempts => continue,
                    None => {
                        return WriteOutcome::Failed(lost.expect("an answer was lost"));
                    }
                },
                // Still unknown: the in-flight mark makes the next cycle look again.
                Err(e) if e.is_transient() => return WriteOutcome::Failed(e),
                Err(e) => return WriteOutcome::Rejected(refusal.unwrap_or(e)),
            }
        }
    }

    /// A write body: field code -> JSON value, typed by the dictionary when it is known.
    fn body(
        &self,
        dictionary: Option<&Dictionary>,
        fields: &[(String, Value)],
    ) -> Map<String, Json> {
        fields
            .iter()
            .map(|(code, v)| {
                let ty = dictionary.and_then(|d| d.type_of(code));
                (code.clone(), value_to_json(v, ty, self.inner.tz))
            })
            .collect()
    }

    async fn write_all(
        &self,
        kind: RecordKind,
        items: Vec<RecordWrite>,
        insert: bool,
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.entity(kind, if insert { "insert" } else { "update" })?;
        // Nothing can be attempted without a token: that is the caller's error, not each record's.
        self.token(false, None).await?;
        let dictionary = self.cached_dictionary(kind);
        let dictionary = dictionary.as_deref();
        let concurrency = self.inner.http.settings().concurrency.max(1);
        let outcomes = futures::stream::iter(items)
            .map(|item| async move {
                if insert {
                    return self.insert_one(kind, dictionary, item).await;
                }
                let Some(id) = item.id.filter(|id| !id.trim().is_empty()) else {
                    return WriteOutcome::Rejected(ConnectorError::new(
                        Side::Weavy,
                        format!("update {}", kind.api_name()),
                        ErrorKind::Invalid("an update needs the record's id".into()),
                    ));
                };
                if item.fields.is_empty() {
                    return WriteOutcome::Done {
                        id,
                        record: None,
                        refused: Vec::new(),
                    };
                }
                self.update_one(kind, dictionary, &id, &item.fields).await
            })
            .buffered(concurrency)
            .collect()
            .await;
        Ok(outcomes)
    }
}

impl Connector for WeavyClient {
    type Pager = WeavyPager;

    fn side(&self) -> Side {
        Side::Weavy
    }

    async fn fields(&self, kind: RecordKind) -> Result<Vec<FieldInfo>, ConnectorError> {
        Ok(self.load_dictionary(kind).await?.fields.clone())
    }

    fn changed_since(&self, kind: RecordKind, since: Option<DateTime<Utc>>) -> WeavyPager {
        let filter = since.map_or(Filter::None, Filter::ChangedSince);
        self.pager(kind, CallKind::List, filter)
    }

    async fn find_by(
        &self,
        kind: RecordKind,
        field: &str,
        value: &str,
    ) -> Result<Vec<RemoteRecord>, ConnectorError> {
        let filter = json!({
            "filterKey": "k1",
            "fieldName": field,
            "operator": "equal",
            "filterValues": [value],
        });
        let mut pager = self.pager(kind, CallKind::Find, Filter::Fixed(vec![filter]));
        let mut out = Vec::new();
        while let Some(page) = pager.next_page().await? {
            out.extend(page);
        }
        Ok(out)
    }

    async fn get(
        &self,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<RemoteRecord>, ConnectorError> {
        let dictionary = self.dictionary(kind).await?;
        self.get_one(kind, id, Some(&dictionary)).await
    }

    async fn insert(
        &self,
        kind: RecordKind,
        items: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.write_all(kind, items, true).await
    }

    async fn update(
        &self,
        kind: RecordKind,
        items: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.write_all(kind, items, false).await
    }

    fn counter(&self) -> &RequestCounter {
        self.inner.http.counter()
    }
}

/// What a Select filters on.
#[derive(Debug, Clone)]
enum Filter {
    None,
    /// Records changed since then: the `srvDate` value is chosen when the pull starts, once
    /// the zone `srvDate` is shown in is known ([`zone::filter_value`]).
    ChangedSince(DateTime<Utc>),
    Fixed(Vec<Json>),
}

/// Pages through a Select by the rule of [`paging`] (rows or pages, overlap or re-read,
/// never a skipped record). Its [`Pager::server_time`] is the `Date` header of the first
/// answer (fieldsync's own clock if a server ever sent none).
#[derive(Debug)]
pub struct WeavyPager {
    client: WeavyClient,
    kind: RecordKind,
    call: CallKind,
    filter: Filter,
    /// The filters sent, once chosen.
    filters: Option<Vec<Json>>,
    paging: paging::Paging,
    server_time: Option<DateTime<Utc>>,
    /// Where a pull of changes ends: its cursor.
    until: Option<DateTime<Utc>>,
    /// The pager was asked for something it cannot do (not a weavy table).
    error: Option<ConnectorError>,
}

impl WeavyPager {
    /// The filters of every request of this pull. A pull of changes (and a full read) ends
    /// at its start ([`zone::until_value`]): what changes while it pages is for the next one.
    async fn filters(&mut self) -> Result<Vec<Json>, ConnectorError> {
        if let Some(f) = &self.filters {
            return Ok(f.clone());
        }
        let client = &self.client;
        let since = match &self.filter {
            Filter::Fixed(f) => {
                self.filters = Some(f.clone());
                return Ok(f.clone());
            }
            Filter::None => None,
            Filter::ChangedSince(t) => Some(*t),
        };
        client.learn_zone(self.kind).await?;
        let tz = client.inner.tz;
        let seen = lock(&client.inner.stored_zone).clone();
        let filter_zone = *lock(&client.inner.filter_zone);
        // The server's now as its last answer told it (to the second, hence 2 s more):
        // every change made before the pull is in it; one made during its first seconds
        // may be too, which is harmless unless it shifts the rows forwards (see `paging`).
        let until = (client.server_now() + chrono::Duration::seconds(2)).trunc_subsecs(0);
        let mut filters = vec![json!({
            "filterKey": "k0",
            "fieldName": SRV_DATE,
            "operator": "LessThan",
            "filterValues": [until_value(until, tz, &seen, filter_zone)],
        })];
        if let Some(t) = since {
            filters.push(json!({
                "filterKey": "k1",
                "fieldName": SRV_DATE,
                "operator": "GreaterThan",
                "filterValues": [filter_value(t, tz, &seen, filter_zone)],
            }));
        }
        self.until = Some(until);
        self.filters = Some(filters.clone());
        Ok(filters)
    }
}

impl Pager for WeavyPager {
    async fn next_page(&mut self) -> Result<Option<Vec<RemoteRecord>>, ConnectorError> {
        if let Some(e) = self.error.take() {
            self.paging.stop();
            return Err(e);
        }
        let client = self.client.clone();
        let entity = self.kind.api_name();
        let name = format!("select {entity}");
        let url = client.url(&["v1", "Data", &client.inner.project_code, "Select"]);
        let filters = self.filters().await?;
        while let Some(offset) = self.paging.next_offset() {
            let dictionary = client.dictionary(self.kind).await?;
            let body = json!({
                "entityName": entity,
                "offset": offset,
                "returnFields": dictionary.return_fields(),
                "filterFields": filters,
            });
            let call = Call::new(self.call, &name);
            let reply = client.send(call, Method::POST, &url, Some(&body)).await?;
            client.check_status(&call, self.kind, WeavyRight::Read, &reply)?;
            if self.server_time.is_none() {
                self.server_time = Some(reply.server_date().unwrap_or_else(Utc::now));
            }
            let rows = parse_select(self.kind, Some(&dictionary), client.inner.tz, &reply.body)
                .map_err(|e| client.inner.http.error(&call, e))?;
            lock(&client.inner.stored_zone).merge(&rows.zone);
            let fresh = self.paging.answer(rows.keys, rows.records).map_err(|u| {
                // What `offset` counts may have been taken wrongly: found again next time.
                *lock(&client.inner.offset_count) = None;
                client.inner.http.error(
                    &call,
                    ErrorKind::Unsettled {
                        restarts: u.restarts,
                    },
                )
            })?;
            if let (Some(unit), true) = self.paging.unit() {
                let mut known = lock(&client.inner.offset_count);
                if known.is_none() {
                    tracing::info!(entity, "weavy paging: {unit}");
                    *known = Some(unit);
                }
            }
            if !fresh.is_empty() {
                return Ok(Some(fresh));
            }
        }
        Ok(None)
    }

    /// Where the pull ended (its `srvDate LessThan`), else the `Date` of its first answer.
    fn server_time(&self) -> Option<DateTime<Utc>> {
        self.until.or(self.server_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use chrono_tz::Europe::Paris;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_naive(s).unwrap().and_utc()
    }

    #[test]
    fn local_times_read_earliest_in_a_fold_and_forward_in_a_gap() {
        let n = |s: &str| parse_naive(s).unwrap();
        assert_eq!(
            local_to_utc(n("2024-07-01 12:00:00"), Paris),
            utc("2024-07-01 10:00:00")
        );
        assert_eq!(
            local_to_utc(n("2024-10-27 02:30:00"), Paris),
            utc("2024-10-27 00:30:00")
        );
        // 02:30 does not exist on 31 March 2024: it is 03:30 CEST.
        assert_eq!(
            local_to_utc(n("2024-03-31 02:30:00"), Paris),
            utc("2024-03-31 01:30:00")
        );
    }

    #[test]
    fn rows_read_their_stamps_and_typed_values() {
        let answer: DictionaryAnswer = serde_json::from_value(json!({"fields": [
            {"fieldName": "customercontact_ID", "fieldType": "text"},
            {"fieldName": "customer_ID", "fieldType": "text(foreignkey)"},
            {"fieldName": "emailOptIn", "fieldType": "boolean"},
            {"fieldName": "bouncedEmailDetected", "fieldType": "datetime"},
            {"fieldName": "closedDate", "fieldType": "date"},
            {"fieldName": "score", "fieldType": "number"},
            {"fieldName": "odd", "fieldType": "geo-point"},
        ]}))
        .unwrap();
        let d = dictionary_from(RecordKind::WeavyContact, answer);
        let row = json!({
            "customercontact_ID": "P1", "customer_ID": "C1", "emailOptIn": "oui",
            "bouncedEmailDetected": "2024-07-01T12:00:00", "closedDate": "2024-05-01T00:00:00",
            "score": "12,5", "odd": {"lat": 1}, "extra": 3,
            "srvDate": "2024-07-01T12:00:00", "srvDateUTC": "2024-07-01T10:00:00",
        });
        let r = parse_row(
            RecordKind::WeavyContact,
            Some(&d),
            Paris,
            row.as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(r.id, "P1");
        assert_eq!(r.modified_at, utc("2024-07-01 10:00:00"));
        assert_eq!(r.get("customer_ID"), &Value::text("C1"));
        assert_eq!(r.get("emailOptIn"), &Value::Bool(true));
        assert_eq!(
            r.get("bouncedEmailDetected"),
            &Value::DateTime(utc("2024-07-01 10:00:00"))
        );
        assert_eq!(
            r.get("closedDate"),
            &Value::Date(NaiveDate::from_ymd_opt(2024, 5, 1).unwrap())
        );
        assert_eq!(r.get("score"), &Value::Number(12.5));
        assert_eq!(r.get("odd"), &Value::text("{\"lat\":1}"));
        assert_eq!(r.get("extra"), &Value::Number(3.0));
        assert!(!r.fields.contains_key("srvDate"));
    }

    #[test]
    fn stamps_fall_back_to_local_srv_date() {
        let row = json!({"customer_ID": "C1", "srvDate": "2024-10-27 02:30:00"});
        let r = parse_row(
            RecordKind::WeavyCustomer,
            None,
            Paris,
            row.as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(r.modified_at, utc("2024-10-27 00:30:00"));
        let row = json!({"customer_ID": "C1", "srvDateUTC": "2024-10-27T01:30:00Z"});
        let r = parse_row(
            RecordKind::WeavyCustomer,
            None,
            Paris,
            row.as_object().unwrap(),
        )
        .unwrap();
        assert_eq!(r.modified_at, utc("2024-10-27 01:30:00"));
        assert!(
            parse_row(
                RecordKind::WeavyCustomer,
                None,
                Paris,
                json!({"name": "x"}).as_object().unwrap()
            )
            .is_none()
        );
    }

    #[test]
    fn unreadable_values_are_kept_as_text_and_blanks_are_blank() {
        assert_eq!(
            parse_value(&json!("douze"), Some(FieldType::Number), Paris),
            Value::Text("douze".into())
        );
        assert_eq!(
            parse_value(&json!("peut-être"), Some(FieldType::Boolean), Paris),
            Value::Text("peut-être".into())
        );
        assert_eq!(
            parse_value(&json!("31/02/x"), Some(FieldType::DateTime), Paris),
            Value::Text("31/02/x".into())
        );
        assert_eq!(
            parse_value(&json!(""), Some(FieldType::Date), Paris),
            Value::Blank
        );
        assert_eq!(
            parse_value(&Json::Null, Some(FieldType::Text), Paris),
            Value::Blank
        );
        assert_eq!(
            parse_value(&json!(true), Some(FieldType::Text), Paris),
            Value::text("true")
        );
        assert_eq!(
            parse_value(&json!(1), Some(FieldType::Boolean), Paris),
            Value::Bool(true)
        );
    }

    #[test]
    fn values_are_written_the_way_weavy_takes_them() {
        let t = utc("2024-01-15 10:00:00");
        assert_eq!(
            value_to_json(&Value::DateTime(t), Some(FieldType::DateTime), Paris),
            json!("2024-01-15T11:00:00")
        );
        assert_eq!(
            value_to_json(&Value::DateTime(t), None, Paris),
            json!("2024-01-15T11:00:00")
        );
        assert_eq!(
            value_to_json(
                &Value::DateTime(utc("2024-01-15 23:30:00")),
                Some(FieldType::Date),
                Paris
            ),
            json!("2024-01-16")
        );
        let d = NaiveDate::from_ymd_opt(2024, 5, 1).unwrap();
        assert_eq!(
            value_to_json(&Value::Date(d), Some(FieldType::Date), Paris),
            json!("2024-05-01")
        );
        // A date in a date-time field: its midnight wall time (see `date_round_trip`).
        assert_eq!(
            value_to_json(&Value::Date(d), Some(FieldType::DateTime), Paris),
            json!("2024-05-01T00:00:00")
        );
        assert_eq!(
            value_to_json(&Value::Number(12.0), Some(FieldType::Text), Paris),
            json!("12")
        );
        assert_eq!(
            value_to_json(&Value::Number(12.5), None, Paris),
            json!(12.5)
        );
        assert_eq!(
            value_to_json(&Value::Bool(true), Some(FieldType::Boolean), Paris),
            json!(true)
        );
        assert_eq!(
            value_to_json(&Value::List(vec!["a".into(), "b".into()]), None, Paris),
            json!("a|b")
        );
        assert_eq!(value_to_json(&Value::Blank, None, Paris), Json::Null);
        assert_eq!(
            value_to_json(&Value::Text("x".into()), None, Paris),
            json!("x")
        );
    }

    #[test]
    fn dictionary_types_custom_fields_and_writability() {
        let answer: DictionaryAnswer = serde_json::from_value(json!({"entityName": "customercontact", "fields": [
            {"fieldName": "customercontact_ID", "fieldType": "text", "translations": [{"languageCode": "EN", "text": "Code"}, {"languageCode": "FR", "text": "Code contact"}]},
            {"fieldName": "customer_ID", "fieldType": "text(foreignkey)"},
            {"fieldName": "owner_ID", "fieldType": "text(foreignkey)"},
            {"fieldName": "emailOptIn", "fieldType": "boolean"},
            {"fieldName": "srvDate", "fieldType": "datetime"},
            {"fieldName": "xLoyalty", "fieldType": "something-new"},
        ]}))
        .unwrap();
        let d = dictionary_from(RecordKind::WeavyContact, answer);
        let f = |c: &str| d.fields.iter().find(|f| f.code == c).unwrap().clone();
        assert_eq!(f("customercontact_ID").label, "Code contact");
        assert!(!f("customercontact_ID").writable && f("customercontact_ID").required);
        assert!(
            f("customer_ID").writable,
            "a contact's company must be writable"
        );
        assert!(!f("owner_ID").writable);
        assert_eq!(f("emailOptIn").field_type, FieldType::Boolean);
        assert!(!f("emailOptIn").custom);
        assert!(f("xLoyalty").custom);
        assert_eq!(f("xLoyalty").field_type, FieldType::Text);
        assert!(d.fields.iter().all(|f| f.code != "srvDate"));
        // The same foreign key on a table where it is not the company stays read-only.
        let answer: DictionaryAnswer = serde_json::from_value(json!({"fields": [
            {"fieldName": "customer_ID", "fieldType": "text(foreignkey)"}]}))
        .unwrap();
        let d = dictionary_from(RecordKind::WeavyEntrant, answer);
        assert!(!d.fields[0].writable);
    }

    #[test]
    fn tokens_are_renewed_a_minute_early_or_halfway() {
        assert_eq!(
            renew_after(Duration::from_secs(43_200)),
            Duration::from_secs(43_140)
        );
        assert_eq!(
            renew_after(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }
}

#[cfg(test)]
mod date_round_trip {
    use super::*;
    use chrono::NaiveDate;

    /// A calendar date written into a weavy date-time field reads back, as the date its
    /// mapping says it is, as the same date, in a zone ahead of UTC (Paris) and behind it
    /// (Montreal).
    #[test]
    fn a_date_in_a_datetime_field_keeps_its_day() {
        for tz in [chrono_tz::Europe::Paris, chrono_tz::America::Montreal] {
            let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
            let json = value_to_json(&Value::Date(day), Some(FieldType::DateTime), tz);
            assert_eq!(json, json!("2026-11-29T00:00:00"));
            let back = parse_value(&json, Some(FieldType::Date), tz);
            assert_eq!(
                back.coerce(FieldType::Date).unwrap(),
                Value::Date(day),
                "{tz}: {json}"
            );
        }
    }
}

#[cfg(test)]
mod value_round_trip {
    use super::*;
    use crate::model::{Compare, Precision};
    use chrono::NaiveDate;
    use proptest::prelude::*;

    /// A mapping type, and a Dictionary type that field may have: its own, or `text` (a
    /// date kept in a text field), or for a date a date-time field.
    fn types() -> impl Strategy<Value = (FieldType, FieldType)> {
        prop_oneof![
            Just((FieldType::Text, FieldType::Text)),
            Just((FieldType::Number, FieldType::Number)),
            Just((FieldType::Number, FieldType::Text)),
            Just((FieldType::Boolean, FieldType::Boolean)),
            Just((FieldType::Boolean, FieldType::Text)),
            Just((FieldType::Date, FieldType::Date)),
            Just((FieldType::Date, FieldType::Text)),
            Just((FieldType::Date, FieldType::DateTime)),
            Just((FieldType::DateTime, FieldType::DateTime)),
            Just((FieldType::DateTime, FieldType::Text)),
            Just((FieldType::List, FieldType::Text)),
        ]
    }

    fn value(ty: FieldType) -> BoxedStrategy<Value> {
        match ty {
            FieldType::Text => "[A-Za-zéè0-9 .:-]{0,20}[A-Za-z]"
                .prop_map(Value::Text)
                .boxed(),
            FieldType::Number => prop_oneof![
                (-1_000_000_000i64..1_000_000_000).prop_map(|n| Value::Number(n as f64)),
                (-1e9f64..1e9).prop_map(Value::Number),
            ]
            .boxed(),
            FieldType::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
            FieldType::Date => (0i64..80_000)
                .prop_map(|d| {
                    Value::Date(
                        NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(d),
                    )
                })
                .boxed(),
            // Whole seconds, 1971 to 2100, densest around the changes of time.
            FieldType::DateTime => prop_oneof![
                (31_536_000i64..4_102_444_800).prop_map(|s| s),
                (0i64..200, 0i64..7_200).prop_map(|(y, s)| {
                    // Around 02:00 on the last Sunday of March or October.
                    let base = DateTime::parse_from_rfc3339("2024-10-27T00:00:00Z")
                        .unwrap()
                        .timestamp();
                    base + (y % 2) * (-210 * 86_400) + s
                }),
            ]
            .prop_map(|s| Value::DateTime(DateTime::from_timestamp(s, 0).unwrap()))
            .boxed(),
            FieldType::List => proptest::collection::vec("[a-z0-9]{1,8}", 1..4)
                .prop_map(Value::List)
                .boxed(),
        }
    }

    fn zone() -> impl Strategy<Value = Tz> {
        prop_oneof![
            Just(chrono_tz::Europe::Paris),
            Just(chrono_tz::America::Montreal),
            Just(chrono_tz::Australia::Sydney),
            Just(chrono_tz::Asia::Kolkata),
            Just(chrono_tz::UTC),
        ]
    }

    proptest! {
        /// A value written to weavy and read back, with the mapping's type on both paths, is
        /// the value written, whatever the Dictionary calls the field and whatever the zone:
        /// a date-time compares as the project wall time weavy keeps (a time of the repeated
        /// autumn hour is one wall time).
        #[test]
        fn what_is_written_reads_back_the_same(
            ((mapping, stored), v, tz) in types()
                .prop_flat_map(|(m, s)| (Just((m, s)), value(m), zone())),
        ) {
            let json = value_to_json(&v, Some(stored), tz);
            // As the server keeps it: a text field keeps a string.
            let kept = match (stored, &json) {
                (FieldType::Text, Json::Number(n)) => Json::String(n.to_string()),
                (FieldType::Text, Json::Bool(b)) => Json::String(b.to_string()),
                _ => json.clone(),
            };
            let read = parse_value(&kept, Some(mapping), tz).coerce(mapping).unwrap();
            let compare = Compare {
                precision: Precision {
                    wall_zone: (mapping == FieldType::DateTime).then_some(tz),
                    ..Precision::EXACT
                },
                ..Compare::EXACT
            };
            prop_assert!(compare.eq(&v, &read), "{v:?} written as {json} read back as {read:?}");
        }
    }

    /// The finding of issue 17: a Mautic date-time mapped to a weavy field the Dictionary
    /// calls `text` was written as a Paris wall time and read back as UTC, an hour or two
    /// off. Read with the mapping's type, it is the same instant.
    #[test]
    fn a_date_time_in_a_text_field_is_a_project_wall_time_both_ways() {
        let t = DateTime::parse_from_rfc3339("2024-07-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let json = value_to_json(&Value::DateTime(t), Some(FieldType::Text), Paris);
        assert_eq!(json, json!("2024-07-01T12:00:00"));
        let read = parse_value(&json, Some(FieldType::DateTime), Paris);
        assert_eq!(read, Value::DateTime(t));
        // Read by the Dictionary's type instead, it would be the text, which the model reads
        // as UTC: two hours later.
        let naive = parse_value(&json, Some(FieldType::Text), Paris)
            .coerce(FieldType::DateTime)
            .unwrap();
        assert_ne!(naive, Value::DateTime(t));
    }

    use chrono_tz::Europe::Paris;
}
