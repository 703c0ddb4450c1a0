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
//! - **Paging**: Select with `offset` advanced by the rows received, until an *empty* page:
//!   no page size is assumed (a short page is not the end). Rows come back in an order the
//!   server chooses; a record an edit makes match the filter can shift later rows by one, so a
//!   row may come twice: the pager drops a repeat, with the same `srvDateUTC`, of a row of the
//!   page before (a record comes twice only when it changed in between). Only one page of ids
//!   is kept, so memory does not grow with the table; a repeat from further back would only be
//!   stored again as the same sighting, which adds nothing.
//! - **`srvDate` filter**: the server compares `srvDate` in the project's local time with no
//!   zone (zone configurable, Europe/Paris by default). The cursor is sent as local
//!   `YYYY-MM-DD HH:MM:SS`, floored to the second and one second earlier (a server that
//!   stores whole seconds would otherwise miss a record changed in the cursor's second), and
//!   one fold earlier when it falls in the first pass of an autumn fold (records of the
//!   second pass have lower local times). Extra rows are harmless; missed ones are not.
//! - **Times read**: `modified_at` is `srvDateUTC`; when absent, `srvDate` read in the project
//!   zone (ambiguous -> the earlier instant, nonexistent -> shifted forward by the gap).
//!   `datetime` values without a zone are project-local and converted to UTC; `date` values
//!   are calendar days and keep their day. A value that cannot be read as its dictionary type
//!   is kept as `Value::Text(raw)`: one odd value never fails a page.
//! - **Values written**: text as a string, number as a number, boolean as `true`/`false`,
//!   date `YYYY-MM-DD`, date-time local `YYYY-MM-DDTHH:MM:SS` in the project zone, a list as
//!   one string `a|b` (weavy has no documented multi-value type), blank as `null`.
//! - **Inserts**: one POST per record (no batch endpoint), concurrently, the key being the
//!   caller-chosen id. A retried insert never duplicates: when the POST is refused with a 4xx
//!   other than 401/403 (the simulator says "duplicate key"; the real wording is unknown) the
//!   record is read back by id; if it exists it is this insert's earlier attempt (the ids are
//!   fieldsync's own, e.g. `wm-<mautic id>`), so its fields are PUT and the insert is Done.
//! - **Rights**: 401 (after one fresh token) or 403 on an authenticated call is a missing
//!   right: [`ErrorKind::MissingRight`] names the Studio table and column to tick.
//! - **Answers to writes** are ignored beyond their status; error bodies are read for a
//!   `message` when they have one, else quoted briefly.
//! - **Foreign keys**: `text(foreignkey)` fields are read-only, except a contact's
//!   `customer_ID`, which is the contact's company and must be writable.

use super::http::{Call, CallKind, Http, HttpSettings, Reply, RequestCounter};
use super::{
    Connector, ConnectorError, ErrorKind, FieldInfo, Pager, RecordWrite, RemoteRecord, Secret,
    WeavyRight, WriteOutcome,
};
use crate::model::{FieldType, RecordKind, Side, Value, format_number, parse_number};
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, Offset, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use futures::StreamExt;
use reqwest::{Method, Url};
use serde::Deserialize;
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
}

/// A bearer token, the generation that tells a renewed one from a stale one, and when to
/// renew it without waiting for a 401.
#[derive(Debug)]
struct Token {
    value: Secret,
    generation: u64,
    renew_at: Instant,
}

/// One table's Dictionary as fieldsync uses it: the fields, and their types for reading.
#[derive(Debug)]
pub struct Dictionary {
    fields: Vec<FieldInfo>,
    types: HashMap<String, FieldType>,
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

    fn type_of(&self, field: &str) -> Option<FieldType> {
        self.types.get(field).copied()
    }

    /// Every field, plus the server stamps: what a Select asks for.
    fn return_fields(&self) -> Vec<Json> {
        self.fields
            .iter()
            .map(|f| f.code.as_str())
            .chain([SRV_DATE, SRV_DATE_UTC])
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
        let auth_http = Http::new(Side::Weavy, settings.http, counter)?;
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
            Dictionary::parse(kind, &reply.body).map_err(|e| self.inner.http.error(&call, e))?,
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

    fn pager(&self, kind: RecordKind, call: CallKind, filters: Vec<Json>) -> WeavyPager {
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
            filters,
            offset: 0,
            done: false,
            server_time: None,
            seen: HashMap::new(),
            error,
        }
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

    /// One PUT of the given fields.
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
        let body = Json::Object(self.body(dictionary, fields));
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

    /// One POST; on a refusal that may be an earlier attempt's record, read it back and
    /// update it instead.
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
        let call = Call::new(CallKind::Insert, &name).record(&id);
        let mut body = self.body(dictionary, &fields);
        body.insert(key, Json::String(id.clone()));
        let body = Json::Object(body);
        let url = self.url(&["v1", "Data", &self.inner.project_code, entity]);
        let reply = match self.send(call, Method::POST, &url, Some(&body)).await {
            Err(e) => return WriteOutcome::Failed(e),
            Ok(r) => r,
        };
        if reply.is_success() {
            return WriteOutcome::Done {
                id,
                record: None,
                refused: Vec::new(),
            };
        }
        if matches!(reply.status, 401 | 403) {
            return WriteOutcome::Rejected(self.missing_right(&call, kind, WeavyRight::Insert));
        }
        let refusal = self.inner.http.error(
            &call,
            ErrorKind::Rejected {
                status: reply.status,
                message: message_of(&reply),
            },
        );
        // "duplicate key" (or any other refusal): is the record there from an earlier try?
        match self.get_one(kind, &id, dictionary).await {
            Ok(Some(_)) => {
                tracing::debug!(entity, id = %id, "insert refused but the record exists: updating it");
                self.update_one(kind, dictionary, &id, &fields).await
            }
            Ok(None) => WriteOutcome::Rejected(refusal),
            Err(e) if e.is_transient() => WriteOutcome::Failed(e),
            Err(_) => WriteOutcome::Rejected(refusal),
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
        let filters = since
            .map(|t| {
                vec![json!({
                    "filterKey": "k1",
                    "fieldName": SRV_DATE,
                    "operator": "GreaterThan",
                    "filterValues": [local_filter_value(t, self.inner.tz)],
                })]
            })
            .unwrap_or_default();
        self.pager(kind, CallKind::List, filters)
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
        let mut pager = self.pager(kind, CallKind::Find, vec![filter]);
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

/// Pages through a Select: offset advanced by the rows received, until an empty page.
/// Drops a row already returned with the same `srvDateUTC` (see the module notes). Its
/// [`Pager::server_time`] is the `Date` header of the first answer (fieldsync's own clock
/// if a server ever sent none).
#[derive(Debug)]
pub struct WeavyPager {
    client: WeavyClient,
    kind: RecordKind,
    call: CallKind,
    filters: Vec<Json>,
    offset: u64,
    done: bool,
    server_time: Option<DateTime<Utc>>,
    /// The records of the last page returned, with the modification time they had.
    seen: HashMap<String, DateTime<Utc>>,
    /// The pager was asked for something it cannot do (not a weavy table).
    error: Option<ConnectorError>,
}

impl Pager for WeavyPager {
    async fn next_page(&mut self) -> Result<Option<Vec<RemoteRecord>>, ConnectorError> {
        if let Some(e) = self.error.take() {
            self.done = true;
            return Err(e);
        }
        let client = self.client.clone();
        let entity = self.kind.api_name();
        let name = format!("select {entity}");
        let url = client.url(&["v1", "Data", &client.inner.project_code, "Select"]);
        while !self.done {
            let dictionary = client.dictionary(self.kind).await?;
            let body = json!({
                "entityName": entity,
                "offset": self.offset,
                "returnFields": dictionary.return_fields(),
                "filterFields": self.filters,
            });
            let call = Call::new(self.call, &name);
            let reply = client.send(call, Method::POST, &url, Some(&body)).await?;
            client.check_status(&call, self.kind, WeavyRight::Read, &reply)?;
            if self.server_time.is_none() {
                self.server_time = Some(reply.server_date().unwrap_or_else(Utc::now));
            }
            let rows = parse_select(self.kind, Some(&dictionary), client.inner.tz, &reply.body)
                .map_err(|e| client.inner.http.error(&call, e))?;
            if rows.rows == 0 {
                self.done = true;
                return Ok(None);
            }
            self.offset += rows.rows as u64;
            let mut page = Vec::with_capacity(rows.records.len());
            let mut this_page = HashMap::with_capacity(rows.records.len());
            for record in rows.records {
                if self.seen.get(&record.id) == Some(&record.modified_at)
                    || this_page.get(&record.id) == Some(&record.modified_at)
                {
                    continue;
                }
                this_page.insert(record.id.clone(), record.modified_at);
                page.push(record);
            }
            if !page.is_empty() {
                self.seen = this_page;
                return Ok(Some(page));
            }
        }
        Ok(None)
    }

    fn server_time(&self) -> Option<DateTime<Utc>> {
        self.server_time
    }
}

/// What a Select answer holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectRows {
    /// Rows in the answer, readable or not: what the next `offset` moves by.
    pub rows: usize,
    /// The rows read as records.
    pub records: Vec<RemoteRecord>,
}

/// Reads a `POST /v1/Data/{project}/Select` answer: a JSON array of flat rows. A row that is
/// not an object or has no usable key is skipped with a warning (one odd row never fails a
/// page); an answer that is not a JSON array is an error.
pub fn parse_select(
    kind: RecordKind,
    dictionary: Option<&Dictionary>,
    tz: Tz,
    body: &[u8],
) -> Result<SelectRows, ErrorKind> {
    let rows: Vec<Json> = super::http::json(body)
        .map_err(|e| ErrorKind::Decode(format!("a Select answer must be a JSON array ({e})")))?;
    let entity = kind.api_name();
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        match row
            .as_object()
            .and_then(|r| parse_row(kind, dictionary, tz, r))
        {
            Some(record) => records.push(record),
            None => tracing::warn!(
                entity,
                "a Select row without a usable {} was skipped",
                key_of(entity)
            ),
        }
    }
    Ok(SelectRows {
        rows: rows.len(),
        records,
    })
}

/// Reads an `Authenticate` answer: the token and how long it lasts (`expiresIn`, else the
/// documented 12 h; capped at a year). Errors never quote the answer: it holds the token.
pub fn parse_authenticate(body: &[u8]) -> Result<(Secret, Duration), ErrorKind> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(rename = "authToken")]
        auth_token: Option<Json>,
        #[serde(rename = "expiresIn", default)]
        expires_in: Option<Json>,
    }
    let answer: Answer = super::http::json(body).map_err(|_| {
        ErrorKind::Decode("the Authenticate answer is not the expected JSON".into())
    })?;
    let value = match answer.auth_token {
        Some(Json::String(t)) if !t.trim().is_empty() => t,
        _ => {
            return Err(ErrorKind::Decode(
                "the Authenticate answer has no authToken".into(),
            ));
        }
    };
    if value
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || !c.is_ascii())
    {
        // It could not be sent in a header; say so without quoting it.
        return Err(ErrorKind::Decode(
            "the authToken of the Authenticate answer is not a printable ASCII token".into(),
        ));
    }
    let lifetime = answer
        .expires_in
        .and_then(|v| match v {
            Json::Number(n) => n.as_f64(),
            Json::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(31_536_000.0)))
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
    Ok((Secret::new(value), lifetime))
}

/// How long a token is used before it is renewed: its lifetime less a margin of 60 s, or of
/// half the lifetime when that is shorter.
fn renew_after(lifetime: Duration) -> Duration {
    lifetime.saturating_sub(Duration::from_secs(60).min(lifetime / 2))
}

#[derive(Debug, Deserialize)]
struct DictionaryAnswer {
    #[serde(default)]
    fields: Vec<DictionaryField>,
}

#[derive(Debug, Deserialize)]
struct DictionaryField {
    #[serde(rename = "fieldName")]
    name: String,
    #[serde(rename = "fieldType", default)]
    field_type: Option<String>,
    #[serde(default)]
    translations: Vec<Translation>,
}

#[derive(Debug, Deserialize)]
struct Translation {
    #[serde(rename = "languageCode", default)]
    language: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

/// The model type of a weavy field type; an unknown type reads as text.
pub fn field_type_of(raw: &str) -> FieldType {
    let t = raw.trim().to_ascii_lowercase();
    match t.as_str() {
        "boolean" | "bool" => FieldType::Boolean,
        "date" => FieldType::Date,
        "datetime" | "date time" | "timestamp" => FieldType::DateTime,
        "number" | "numeric" | "decimal" | "integer" | "int" | "float" | "double" | "money"
        | "currency" => FieldType::Number,
        _ => FieldType::Text,
    }
}

fn dictionary_from(kind: RecordKind, answer: DictionaryAnswer) -> Dictionary {
    let key = key_of(kind.api_name());
    let standard = standard_fields(kind);
    let mut fields = Vec::new();
    let mut types = HashMap::new();
    for f in answer.fields {
        if f.name == SRV_DATE || f.name == SRV_DATE_UTC || types.contains_key(&f.name) {
            continue;
        }
        let raw_type = f.field_type.unwrap_or_else(|| "text".to_owned());
        let field_type = field_type_of(&raw_type);
        let label = f
            .translations
            .iter()
            .find(|t| {
                t.language
                    .as_deref()
                    .is_some_and(|l| l.eq_ignore_ascii_case("FR"))
            })
            .or(f.translations.first())
            .and_then(|t| t.text.clone())
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| f.name.clone());
        let foreign_key = raw_type.to_ascii_lowercase().contains("foreignkey");
        let is_key = f.name == key;
        let company_of_contact = kind == RecordKind::WeavyContact && f.name == "customer_ID";
        types.insert(f.name.clone(), field_type);
        fields.push(FieldInfo {
            custom: !standard.contains(&f.name.as_str()),
            writable: !is_key && (!foreign_key || company_of_contact),
            required: is_key,
            unique: is_key,
            decimals: None,
            code: f.name,
            label,
            raw_type,
            field_type,
        });
    }
    Dictionary { fields, types }
}

/// The message of an error answer: its `message` (or `Message`, `error`, `title`) when it is
/// JSON, else its start.
fn message_of(reply: &Reply) -> String {
    if let Ok(v) = serde_json::from_slice::<Json>(&reply.body) {
        let candidates = [
            v.get("message"),
            v.get("Message"),
            v.get("error").and_then(|e| e.get("message").or(Some(e))),
            v.get("errors")
                .and_then(|e| e.get(0))
                .and_then(|e| e.get("message")),
            v.get("title"),
        ];
        if let Some(m) = candidates.into_iter().flatten().find_map(Json::as_str) {
            return super::http::snippet(m.as_bytes());
        }
    }
    reply.snippet()
}

/// A zone-less date-time as weavy writes one: `YYYY-MM-DDTHH:MM:SS` or with a space,
/// optional fraction.
fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    let t = s.trim();
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
}

/// A date-time with its own zone (`Z`, `+02:00`), if it has one.
fn parse_zoned(s: &str) -> Option<DateTime<Utc>> {
    let t = s.trim();
    DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// A local wall-clock time of the project's zone as an instant. In the autumn fold (the
/// time happens twice) the earlier instant; in the spring gap (it never happens) the time is
/// shifted forward by the gap, i.e. read with the offset in force before it.
pub fn local_to_utc(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        LocalResult::None => {
            let before = tz
                .offset_from_utc_datetime(&(naive - chrono::Duration::hours(24)))
                .fix()
                .local_minus_utc();
            (naive - chrono::Duration::seconds(before.into())).and_utc()
        }
    }
}

/// The `srvDate GreaterThan` value for "changed since `since`": local time of the project
/// zone, `YYYY-MM-DD HH:MM:SS`, floored to the second and one second earlier, and one fold
/// earlier in the first pass of an autumn fold (see the module notes).
pub fn local_filter_value(since: DateTime<Utc>, tz: Tz) -> String {
    let t = since.trunc_subsecs(0) - chrono::Duration::seconds(1);
    let mut naive = t.with_timezone(&tz).naive_local();
    if let LocalResult::Ambiguous(a, b) = tz.from_local_datetime(&naive) {
        let (early, late) = {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            (a.min(b), a.max(b))
        };
        if t == early {
            naive -= late - early;
        }
    }
    naive.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A server stamp: with its own zone if it has one, else in `zone_less` (UTC for
/// `srvDateUTC`, the project's zone for `srvDate`).
fn parse_stamp(raw: &Json, zone_less: Option<Tz>) -> Option<DateTime<Utc>> {
    let s = raw.as_str()?;
    if let Some(t) = parse_zoned(s) {
        return Some(t);
    }
    let naive = parse_naive(s)?;
    Some(match zone_less {
        Some(tz) => local_to_utc(naive, tz),
        None => naive.and_utc(),
    })
}

/// A row of a Select or Get as a record; `None` when it has no key.
fn parse_row(
    kind: RecordKind,
    dictionary: Option<&Dictionary>,
    tz: Tz,
    row: &Map<String, Json>,
) -> Option<RemoteRecord> {
    let key = key_of(kind.api_name());
    let id = match row.get(&key)? {
        Json::String(s) if !s.is_empty() => s.clone(),
        Json::Number(n) => n.to_string(),
        _ => return None,
    };
    // An id is written back in URLs and stored keys: one with control characters or bytes
    // that were not UTF-8 would name another record.
    if id.len() > 255 || id.chars().any(|c| c.is_control() || c == '\u{fffd}') {
        return None;
    }
    let modified_at = row
        .get(SRV_DATE_UTC)
        .and_then(|v| parse_stamp(v, None))
        .or_else(|| row.get(SRV_DATE).and_then(|v| parse_stamp(v, Some(tz))))
        .unwrap_or_else(|| {
            tracing::warn!(entity = kind.api_name(), id = %id, "no readable srvDateUTC or srvDate: taken as the oldest time");
            DateTime::<Utc>::UNIX_EPOCH
        });
    let fields = row
        .iter()
        .filter(|(k, _)| *k != SRV_DATE && *k != SRV_DATE_UTC)
        .map(|(k, v)| {
            let ty = dictionary.and_then(|d| d.type_of(k));
            (k.clone(), parse_value(v, ty, tz))
        })
        .collect();
    Some(RemoteRecord {
        kind,
        id,
        modified_at,
        fields,
        anonymous: false,
    })
}

/// A JSON value read as its dictionary type (`None`: a field the dictionary did not list,
/// read by its JSON type). Null and blank text are [`Value::Blank`]; what cannot be read as
/// its type is kept as `Value::Text(raw)`.
pub fn parse_value(raw: &Json, ty: Option<FieldType>, tz: Tz) -> Value {
    let text = match raw {
        Json::Null => return Value::Blank,
        Json::String(s) if s.trim().is_empty() => return Value::Blank,
        Json::String(s) => s.clone(),
        Json::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            match ty {
                None | Some(FieldType::Number) if f.is_finite() => return Value::Number(f),
                Some(FieldType::Boolean) if f == 0.0 || f == 1.0 => return Value::Bool(f == 1.0),
                _ if f.is_finite() => format_number(f),
                _ => n.to_string(),
            }
        }
        Json::Bool(b) => match ty {
            None | Some(FieldType::Boolean) => return Value::Bool(*b),
            _ => b.to_string(),
        },
        Json::Array(_) | Json::Object(_) => raw.to_string(),
    };
    let keep = |s: String| Value::Text(s);
    match ty.unwrap_or(FieldType::Text) {
        FieldType::Text => Value::text(text),
        FieldType::Number => match parse_number(&text) {
            Some(n) => Value::Number(n),
            None => keep(text),
        },
        FieldType::Boolean => Value::Text(text.clone())
            .coerce(FieldType::Boolean)
            .unwrap_or_else(|_| keep(text)),
        FieldType::Date => {
            let day = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .ok()
                .or_else(|| parse_naive(&text).map(|t| t.date()))
                .or_else(|| parse_zoned(&text).map(|t| t.with_timezone(&tz).date_naive()));
            match day {
                Some(d) => Value::Date(d),
                None => keep(text),
            }
        }
        FieldType::DateTime => {
            let t = parse_zoned(&text)
                .or_else(|| parse_naive(&text).map(|n| local_to_utc(n, tz)))
                .or_else(|| {
                    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|n| local_to_utc(n, tz))
                });
            match t {
                Some(t) => Value::DateTime(t),
                None => keep(text),
            }
        }
        FieldType::List => Value::Text(text.clone())
            .coerce(FieldType::List)
            .unwrap_or_else(|_| keep(text)),
    }
}

/// A value as weavy takes it (see the module notes), shaped by the field's type when known.
pub fn value_to_json(v: &Value, ty: Option<FieldType>, tz: Tz) -> Json {
    match v {
        Value::Blank => Json::Null,
        Value::Text(s) => Json::String(s.clone()),
        Value::Number(n) => match ty {
            Some(FieldType::Text) => Json::String(format_number(*n)),
            _ => serde_json::Number::from_f64(*n)
                .map(Json::Number)
                .unwrap_or(Json::Null),
        },
        Value::Bool(b) => match ty {
            Some(FieldType::Text) => Json::String(b.to_string()),
            _ => Json::Bool(*b),
        },
        Value::Date(d) => match ty {
            // A calendar date in a date-time field: midnight UTC (how the model reads a date as
            // an instant), written in the project's zone, so it reads back as the same date.
            Some(FieldType::DateTime) => {
                let utc = d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
                Json::String(
                    utc.with_timezone(&tz)
                        .format("%Y-%m-%dT%H:%M:%S")
                        .to_string(),
                )
            }
            _ => Json::String(d.format("%Y-%m-%d").to_string()),
        },
        Value::DateTime(t) => {
            let local = t.with_timezone(&tz);
            match ty {
                Some(FieldType::Date) => Json::String(local.format("%Y-%m-%d").to_string()),
                _ => Json::String(local.format("%Y-%m-%dT%H:%M:%S").to_string()),
            }
        }
        Value::List(items) => Json::String(items.join("|")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Paris;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_naive(s).unwrap().and_utc()
    }

    #[test]
    fn the_filter_is_local_time_one_second_early() {
        // Summer: UTC+2; winter: UTC+1; fractions are floored.
        assert_eq!(
            local_filter_value(utc("2024-07-01 10:00:00.700"), Paris),
            "2024-07-01 11:59:59"
        );
        assert_eq!(
            local_filter_value(utc("2024-01-15 10:00:00"), Paris),
            "2024-01-15 10:59:59"
        );
        assert_eq!(
            local_filter_value(utc("2024-01-15 10:00:00"), chrono_tz::UTC),
            "2024-01-15 09:59:59"
        );
    }

    #[test]
    fn the_filter_goes_back_a_fold_in_its_first_pass() {
        // 00:30 UTC is 02:30 CEST, the first pass of 27 Oct 2024's repeated hour.
        assert_eq!(
            local_filter_value(utc("2024-10-27 00:30:01"), Paris),
            "2024-10-27 01:30:00"
        );
        // 01:30 UTC is 02:30 CET, the second pass: nothing later is lower.
        assert_eq!(
            local_filter_value(utc("2024-10-27 01:30:01"), Paris),
            "2024-10-27 02:30:00"
        );
        // Spring gap: 01:30 UTC is 03:30 CEST.
        assert_eq!(
            local_filter_value(utc("2024-03-31 01:30:01"), Paris),
            "2024-03-31 03:30:00"
        );
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
        // A date in a date-time field: midnight UTC, in Paris time (so it reads back as the
        // same date; see `date_round_trip`).
        assert_eq!(
            value_to_json(&Value::Date(d), Some(FieldType::DateTime), Paris),
            json!("2024-05-01T02:00:00")
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

    /// A calendar date written into a weavy date-time field reads back as the same date, in a
    /// zone ahead of UTC (Paris) and behind it (Montreal).
    #[test]
    fn a_date_in_a_datetime_field_keeps_its_day() {
        for tz in [chrono_tz::Europe::Paris, chrono_tz::America::Montreal] {
            let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
            let json = value_to_json(&Value::Date(day), Some(FieldType::DateTime), tz);
            let back = parse_value(&json, Some(FieldType::DateTime), tz);
            assert_eq!(
                back.coerce(FieldType::Date).unwrap(),
                Value::Date(day),
                "{tz}: {json}"
            );
        }
    }
}
