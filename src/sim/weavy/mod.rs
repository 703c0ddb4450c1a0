//! A simulated Divalto weavy API, faithful to `API-NOTES.md` quirks included, for tests,
//! benches and `fieldsync demo`. [`WeavySim`] serves it on a loopback port and lets a test act
//! "as a user" (insert, edit, add a custom field, switch a right off, expire tokens) and look
//! at what the API did (records, inserts per e-mail, write counters).
//!
//! Routes:
//! - `POST /v1/Authenticate`: `{"scope":"API","projectCode","userName"|"username","password"}`
//!   -> `{"authToken","expiresIn","generatedTimeUTC","passwordExpiryUTC":null}`; 401 when refused.
//! - `GET /v1/Dictionary/{project}/{entity}`: the fields, custom ones at once. Needs a token, no right.
//! - `POST /v1/Data/{project}/Select`, `GET /v1/Data/{project}/{entity}/{id}`: need "API lecture".
//! - `POST /v1/Data/{project}/{entity}` ("API ajout"), `PUT /v1/Data/{project}/{entity}/{id}` ("API MAJ").
//!
//! Answers for what the notes leave unknown: a refused token is 401; a missing right is 403
//! with `{"code":403,"message":"Access denied: the API right 'API ajout' is not granted on
//! table ..."}`; any other error is `{"code":<status>,"message":...}` (400 for a bad body, a
//! duplicate key, an unknown or read-only field; 404 for an unknown entity, project or record);
//! a successful write is 200 `{"success":true,"<entity>_ID":...}`. Tokens expire on the
//! simulator's clock (so a test moves the clock instead of sleeping). The rules of the data
//! themselves are in [`data`].

mod data;
pub mod readings;

pub use readings::WeavyReadings;

use crate::connector::WeavyRight;
use crate::sim::{SimControl, SimServer, lock};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use data::{ApiError, Db, SelectQuery};
use rand::RngExt;
use serde_json::{Value as Json, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How to start a simulated weavy project.
#[derive(Debug, Clone)]
pub struct WeavySimOptions {
    /// Seeds the fault draws and the tokens.
    pub seed: u64,
    pub project_code: String,
    pub user: String,
    pub password: String,
    /// The `expiresIn` of tokens; they stop working that long after they were issued
    /// (on the simulator's clock).
    pub token_ttl: Duration,
    /// Rows per Select page at most.
    pub page_cap: usize,
    /// The project's zone: `srvDate` is written and compared in it.
    pub time_zone: chrono_tz::Tz,
    /// 0: any free port.
    pub port: u16,
    /// A contact's `customer_ID` must name an existing customer.
    pub enforce_foreign_keys: bool,
    /// The reading of each unknown of the API it starts with (see [`readings`]).
    pub readings: WeavyReadings,
}

impl Default for WeavySimOptions {
    fn default() -> Self {
        WeavySimOptions {
            seed: 7,
            project_code: "DEMO".to_owned(),
            user: "api.fieldsync".to_owned(),
            password: "weavy-demo-password".to_owned(),
            token_ttl: Duration::from_secs(43_200),
            page_cap: 500,
            time_zone: chrono_tz::Europe::Paris,
            port: 0,
            enforce_foreign_keys: true,
            readings: WeavyReadings::default(),
        }
    }
}

/// The state the handlers share.
#[derive(Debug)]
struct Shared {
    db: Mutex<Db>,
    /// Token -> when it stops working (simulator clock).
    tokens: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Every token ever issued, expired or not (for tests that look for leaks).
    issued: Mutex<Vec<String>>,
    control: Arc<SimControl>,
    opts: WeavySimOptions,
}

/// A weavy user editing records while the simulator runs (see [`WeavySim::user`]).
#[derive(Clone)]
pub struct WeavyUser {
    shared: Arc<Shared>,
}

impl WeavyUser {
    /// As [`WeavySim::edit`].
    pub fn edit(&self, entity: &str, id: &str, fields: &[(&str, Json)]) -> bool {
        let now = self.shared.control.now();
        lock(&self.shared.db).user_edit(entity, id, fields, now)
    }
}

/// A running weavy simulator. Stops when dropped.
#[derive(Debug)]
pub struct WeavySim {
    shared: Arc<Shared>,
    server: SimServer,
}

impl WeavySim {
    pub async fn start(opts: WeavySimOptions) -> std::io::Result<WeavySim> {
        let control = SimControl::new(opts.seed);
        let shared = Arc::new(Shared {
            db: Mutex::new({
                let mut db = Db::new(opts.time_zone, opts.enforce_foreign_keys);
                db.readings = opts.readings;
                db
            }),
            tokens: Mutex::new(HashMap::new()),
            issued: Mutex::new(Vec::new()),
            control: control.clone(),
            opts: opts.clone(),
        });
        let router = Router::new()
            .route("/v1/Authenticate", post(authenticate))
            .route("/v1/Dictionary/{project}/{entity}", get(dictionary))
            .route("/v1/Data/{project}/Select", post(select))
            .route("/v1/Data/{project}/{entity}", post(insert))
            .route("/v1/Data/{project}/{entity}/{id}", get(get_one).put(update))
            .route_layer(axum::middleware::from_fn_with_state(
                control,
                crate::sim::apply_knobs,
            ))
            .with_state(shared.clone());
        let server = SimServer::start(router, opts.port).await?;
        Ok(WeavySim { shared, server })
    }

    /// `http://127.0.0.1:port`: the connector's base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn project_code(&self) -> &str {
        &self.shared.opts.project_code
    }

    pub fn options(&self) -> &WeavySimOptions {
        &self.shared.opts
    }

    pub fn control(&self) -> &Arc<SimControl> {
        &self.shared.control
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Db> {
        lock(&self.shared.db)
    }

    /// Creates (or overwrites) a record as a user would in weavy, stamped with the
    /// simulator's clock. Panics on an unknown table or field (a bug in the caller).
    pub fn insert(&self, entity: &str, id: &str, fields: &[(&str, Json)]) {
        let now = self.shared.control.now();
        self.db().user_insert(entity, id, fields, now);
    }

    /// Changes fields of a record as a user would; false when there is no such record.
    pub fn edit(&self, entity: &str, id: &str, fields: &[(&str, Json)]) -> bool {
        let now = self.shared.control.now();
        self.db().user_edit(entity, id, fields, now)
    }

    /// A handle that edits records as a user would, from anywhere (a request hook).
    pub fn user(&self) -> WeavyUser {
        WeavyUser {
            shared: self.shared.clone(),
        }
    }

    /// Adds a custom field (Studio); it is in the Dictionary at once.
    pub fn add_custom_field(&self, entity: &str, name: &str, field_type: &str) {
        self.db().add_custom_field(entity, name, field_type);
    }

    /// Gives a field another Dictionary type (see `Db::set_field_type`).
    pub fn set_field_type(&self, entity: &str, name: &str, field_type: &str) {
        self.db().set_field_type(entity, name, field_type);
    }

    /// Ticks or unticks one API right of one table (Studio's data dictionary).
    pub fn set_right(&self, entity: &str, right: WeavyRight, allowed: bool) {
        self.db().set_right(entity, right, allowed);
    }

    /// The readings of the API's unknowns this server has.
    pub fn readings(&self) -> WeavyReadings {
        self.db().readings
    }

    /// Changes how the server reads what the documentation leaves open (at once).
    pub fn set_readings(&self, readings: WeavyReadings) {
        self.db().readings = readings;
    }

    /// Revokes every token issued so far: the next data call answers 401.
    pub fn expire_tokens(&self) {
        lock(&self.shared.tokens).clear();
    }

    /// Every token issued so far, expired and revoked ones included.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared.issued).clone()
    }

    /// A record as the API would return it (`srvDate`/`srvDateUTC` included).
    pub fn record(&self, entity: &str, id: &str) -> Option<BTreeMap<String, Json>> {
        self.db().record(entity, id)
    }

    /// Every record of a table, in insertion order.
    pub fn records(&self, entity: &str) -> Vec<BTreeMap<String, Json>> {
        self.db().records(entity)
    }

    /// Records inserted through the API, per lower-cased e-mail.
    pub fn inserted_per_email(&self, entity: &str) -> BTreeMap<String, u64> {
        self.db()
            .table_opt(entity)
            .map(|t| t.inserted_per_email.clone())
            .unwrap_or_default()
    }

    /// Inserts that succeeded through the API.
    pub fn api_inserts(&self, entity: &str) -> u64 {
        self.db().table_opt(entity).map_or(0, |t| t.api_inserts)
    }

    /// Updates that succeeded through the API.
    pub fn api_updates(&self, entity: &str) -> u64 {
        self.db().table_opt(entity).map_or(0, |t| t.api_updates)
    }

    /// The keys of a table's records, in insertion order.
    pub fn ids(&self, entity: &str) -> Vec<String> {
        self.db()
            .table_opt(entity)
            .map(|t| t.rows.iter().map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Every table with its records, rights and counters, to put back later with
    /// [`WeavySim::restore`] (the scale bench replays a cycle's requests against the state the
    /// cycle met). Tokens, knobs and request counters are not part of it.
    pub fn snapshot(&self) -> WeavySnapshot {
        WeavySnapshot(self.db().clone())
    }

    /// Puts back what [`WeavySim::snapshot`] took.
    pub fn restore(&self, snapshot: &WeavySnapshot) {
        *self.db() = snapshot.0.clone();
    }

    /// Stops serving; requests in flight finish.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// The data of a simulated weavy project at one moment (see [`WeavySim::snapshot`]).
#[derive(Debug, Clone)]
pub struct WeavySnapshot(Db);

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    (
        status,
        axum::Json(json!({"code": status.as_u16(), "message": message})),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest(m) => error(StatusCode::BAD_REQUEST, m),
            ApiError::Forbidden(m) => error(StatusCode::FORBIDDEN, m),
            ApiError::NotFound(m) => error(StatusCode::NOT_FOUND, m),
            ApiError::Unauthorized(m) => error(StatusCode::UNAUTHORIZED, m),
            ApiError::Conflict(m) => error(StatusCode::CONFLICT, m),
            ApiError::ServerError(m) => error(StatusCode::INTERNAL_SERVER_ERROR, m),
        }
    }
}

fn parse_body(body: &Bytes) -> Result<Json, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

impl Shared {
    /// An error answer; a missing right as the reading of [`readings::MissingRight`] says.
    fn refuse(&self, e: ApiError) -> Response {
        match e {
            ApiError::Forbidden(m)
                if lock(&self.db).readings.missing_right
                    == readings::MissingRight::Unauthorized =>
            {
                ApiError::Unauthorized(m).into_response()
            }
            other => other.into_response(),
        }
    }

    /// The answer to a successful write, as the reading of [`readings::WriteAnswer`] says.
    fn written(&self, entity: &str, id: &str) -> Response {
        match lock(&self.db).readings.write_answer {
            readings::WriteAnswer::Json => {
                axum::Json(json!({"success": true, format!("{entity}_ID"): id})).into_response()
            }
            readings::WriteAnswer::Empty => StatusCode::OK.into_response(),
            readings::WriteAnswer::Text => (StatusCode::OK, "OK").into_response(),
        }
    }

    /// A valid, unexpired token for this project, else the 401 answer.
    fn authorize(&self, headers: &HeaderMap, project: &str) -> Result<(), ApiError> {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let now = self.control.now();
        let valid = token.is_some_and(|t| {
            let mut tokens = lock(&self.tokens);
            tokens.retain(|_, exp| *exp > now);
            tokens.contains_key(t)
        });
        if !valid {
            return Err(ApiError::Unauthorized(
                "Authorization has been denied for this request: missing, invalid or expired token"
                    .into(),
            ));
        }
        if project != self.opts.project_code {
            return Err(ApiError::NotFound(format!("unknown project '{project}'")));
        }
        Ok(())
    }
}

async fn authenticate(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let field = |k: &str| body.get(k).and_then(Json::as_str);
    if !field("scope").is_some_and(|v| v.eq_ignore_ascii_case("API")) {
        return error(StatusCode::BAD_REQUEST, "scope must be 'API'");
    }
    let user = field("userName").or_else(|| field("username"));
    let ok = field("projectCode") == Some(s.opts.project_code.as_str())
        && user == Some(s.opts.user.as_str())
        && field("password") == Some(s.opts.password.as_str());
    if !ok {
        return error(StatusCode::UNAUTHORIZED, "Authentication failed");
    }
    let now = s.control.now();
    let token = s.control.with_rng(|rng| {
        let mut part = |n: usize| -> String {
            (0..n)
                .map(|_| {
                    let c = rng.random_range(0..64u8);
                    (match c {
                        0..26 => b'A' + c,
                        26..52 => b'a' + c - 26,
                        52..62 => b'0' + c - 52,
                        62 => b'-',
                        _ => b'_',
                    }) as char
                })
                .collect()
        };
        format!("eyJhbGciOiJIUzI1NiJ9.{}.{}", part(48), part(43))
    });
    let ttl = chrono::Duration::from_std(s.opts.token_ttl).unwrap_or(chrono::Duration::MAX);
    lock(&s.tokens).insert(token.clone(), now + ttl);
    lock(&s.issued).push(token.clone());
    axum::Json(json!({
        "authToken": token,
        "expiresIn": s.opts.token_ttl.as_secs(),
        "generatedTimeUTC": now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "passwordExpiryUTC": null,
    }))
    .into_response()
}

async fn dictionary(
    State(s): State<Arc<Shared>>,
    Path((project, entity)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = s.authorize(&headers, &project) {
        return e.into_response();
    }
    let db = lock(&s.db);
    let table = match db.table(&entity) {
        Ok(t) => t,
        Err(e) => {
            drop(db);
            return s.refuse(e);
        }
    };
    let fields: Vec<Json> = table
        .fields
        .iter()
        .map(|f| {
            json!({
                "fieldName": f.name,
                "translations": [{"languageCode": "FR", "text": f.label}],
                "fieldType": f.field_type,
                "fieldLength": f.length,
            })
        })
        .collect();
    axum::Json(json!({
        "entityName": table.entity,
        "translations": [{"languageCode": "FR", "text": table.label}],
        "fields": fields,
    }))
    .into_response()
}

async fn select(
    State(s): State<Arc<Shared>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = s.authorize(&headers, &project) {
        return e.into_response();
    }
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let query = match SelectQuery::parse(&body) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let result = lock(&s.db).select(&query, s.opts.page_cap);
    match result {
        Ok(rows) => axum::Json(Json::Array(rows)).into_response(),
        Err(e) => s.refuse(e),
    }
}

async fn get_one(
    State(s): State<Arc<Shared>>,
    Path((project, entity, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = s.authorize(&headers, &project) {
        return e.into_response();
    }
    let result = lock(&s.db).get(&entity, &id);
    match result {
        Ok(row) => axum::Json(Json::Object(row)).into_response(),
        Err(e) => s.refuse(e),
    }
}

async fn insert(
    State(s): State<Arc<Shared>>,
    Path((project, entity)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = s.authorize(&headers, &project) {
        return e.into_response();
    }
    let now = s.control.now();
    let result = {
        let mut db = lock(&s.db);
        // The right comes before the body is even read.
        db.table(&entity)
            .and_then(|t| t.require(WeavyRight::Insert))
            .and_then(|()| parse_body(&body))
            .and_then(|body| db.api_insert(&entity, &body, now))
    };
    match result {
        Ok(id) => s.written(&entity, &id),
        Err(e) => s.refuse(e),
    }
}

async fn update(
    State(s): State<Arc<Shared>>,
    Path((project, entity, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = s.authorize(&headers, &project) {
        return e.into_response();
    }
    let now = s.control.now();
    let result = {
        let mut db = lock(&s.db);
        db.table(&entity)
            .and_then(|t| t.require(WeavyRight::Update))
            .and_then(|()| parse_body(&body))
            .and_then(|body| db.api_update(&entity, &id, &body, now))
    };
    match result {
        Ok(()) => s.written(&entity, &id),
        Err(e) => s.refuse(e),
    }
}
