//! A simulated Webmecanik Automation (a hosted Mautic), so the connector, the sync cycle, the
//! benches and `fieldsync demo` run against the real HTTP protocol on one machine with no
//! set-up. It models Mautic 5.1.0 as its source code behaves (mautic/mautic 5.1.0, read file
//! by file; each rule names the file it follows), and, under [`MauticProfile::Newer`], the
//! behaviours the newer majors' functional tests pin (MAUTIC-CONTRACT.md).
//! `tests/mautic_contract.rs` runs Mautic's own API tests against it.
//!
//! What it does as Mautic does: OAuth2 client-credentials tokens that expire (and HTTP Basic
//! when enabled); `GET /api/contacts|companies` with `start`/`limit`, `search`, `orderBy` and
//! nested `where` clauses, contacts keyed by id with `total` as a string and `{}` when empty;
//! field lists paged 30 at a time; anonymous visitors; `date_modified` NULL until the first
//! edit; single and batch writes (at most 200 items, per-item status codes, PHP arrays that
//! are lists or objects); blanks ignored unless `overwriteWithBlank` and zeros dropped on
//! contacts, neither on companies; date-times cut to the minute (5.x); unique identifier
//! fields that find "the same" contact and that two contacts may not share (422); a
//! contact's `company` text creating the company it names; company links whose newest is the
//! primary one; merged contacts whose old id names the winner; Do Not Contact entries; both
//! error shapes and a `Mautic-Version` header.
//!
//! Layout: [`profile`] says what differs between versions, [`query`] reads list parameters,
//! [`fields`] holds the field catalogue and value rules, [`state`] the data and every change
//! to it, [`render`] the JSON answers; this file holds the public handle, the routes and
//! authentication. Latency, faults, the rate limit and the `Date` header come from
//! [`SimControl`] through [`crate::sim::apply_knobs`].

pub mod fields;
pub mod profile;
pub mod query;
pub mod render;
pub mod state;

use crate::sim::{SimControl, SimServer, apply_knobs, lock};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use chrono::{DateTime, Utc};
pub use fields::CustomField;
use fields::Object;
pub use profile::{MauticProfile, UniqueOperator};
use query::{ListQuery, order_rows, parse_urlencoded};
use rand::RngExt;
use serde_json::{Map, Value as Json, json};
use state::{CompanyRow, ContactRow, ItemError, Method, State, Tracked, known_column};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the simulator starts.
#[derive(Debug, Clone)]
pub struct MauticSimOptions {
    /// Seeds the random source (tokens, faults).
    pub seed: u64,
    pub client_id: String,
    pub client_secret: String,
    /// HTTP Basic credentials, when the admin enabled Basic auth.
    pub basic_auth: Option<(String, String)>,
    /// Lifetime of an access token (Mautic's default: 3600 s).
    pub token_ttl: Duration,
    /// Which Mautic it is.
    pub profile: MauticProfile,
    /// `date_modified` stays NULL on a record never edited since creation (Mautic 5:
    /// `FormModel::setTimestamps` returns early for a new entity; API-NOTES.md: "before 2025").
    pub null_date_modified_on_create: bool,
    /// `0`: any free port.
    pub port: u16,
    /// The quirks it starts with; change them later with [`MauticSim::update_quirks`].
    pub quirks: MauticQuirks,
}

impl Default for MauticSimOptions {
    fn default() -> Self {
        MauticSimOptions {
            seed: 1,
            client_id: "fieldsync-sim".into(),
            client_secret: "sim-secret".into(),
            basic_auth: None,
            token_ttl: Duration::from_secs(3600),
            profile: MauticProfile::V5,
            null_date_modified_on_create: true,
            port: 0,
            quirks: MauticQuirks::default(),
        }
    }
}

/// Behaviours that differ between Mautic instances and versions, adjustable at run time.
#[derive(Debug, Clone, PartialEq)]
pub struct MauticQuirks {
    /// Old instances answer errors as `{"error":{"message","code"}}` instead of
    /// `{"errors":[{"code","message","details","type"}]}`.
    pub legacy_errors: bool,
    /// `total` as a string (`"12"`), as Mautic's cached count gives it.
    pub total_as_string: bool,
    /// An empty list as `[]` rather than `{}`.
    pub empty_list_as_array: bool,
    /// Added to every `total`: a stale cached count (Mautic caches it for a few seconds).
    pub inflate_total: u64,
    /// The API is enabled in Mautic's configuration; when not, every `/api` call gets 403.
    pub api_enabled: bool,
    /// The `Mautic-Version` header, when not the profile's.
    pub version: Option<String>,
}

impl Default for MauticQuirks {
    fn default() -> Self {
        MauticQuirks {
            legacy_errors: false,
            total_as_string: true,
            empty_list_as_array: false,
            inflate_total: 0,
            api_enabled: true,
            version: None,
        }
    }
}

/// A contact as the simulator holds it, for tests to inspect.
#[derive(Debug, Clone, PartialEq)]
pub struct SimContact {
    pub id: u64,
    /// Field values by alias; unset fields are absent.
    pub fields: BTreeMap<String, Json>,
    pub date_added: DateTime<Utc>,
    pub date_modified: Option<DateTime<Utc>>,
    pub date_identified: Option<DateTime<Utc>>,
    /// E-mail channel Do Not Contact entries: (reason, date added).
    pub dnc: Vec<(i64, DateTime<Utc>)>,
    /// Linked companies: (company id, primary).
    pub companies: Vec<(u64, bool)>,
    /// Never identified (no `dateIdentified`).
    pub anonymous: bool,
}

impl SimContact {
    /// A text field's value.
    pub fn text(&self, alias: &str) -> Option<&str> {
        self.fields.get(alias).and_then(Json::as_str)
    }
}

/// A company as the simulator holds it, for tests to inspect.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCompany {
    pub id: u64,
    pub fields: BTreeMap<String, Json>,
    pub date_added: DateTime<Utc>,
    pub date_modified: Option<DateTime<Utc>>,
}

/// Issued access tokens: expiry and whether [`MauticSim::expire_tokens`] revoked them.
#[derive(Debug, Default)]
struct Tokens {
    issued: HashMap<String, (Instant, bool)>,
}

/// What the routes share.
#[derive(Debug)]
struct Shared {
    state: Mutex<Tracked>,
    /// The ids the last keyset list query selected (see [`keyset_ids`]).
    list_cache: Mutex<Option<ListCache>>,
    tokens: Mutex<Tokens>,
    quirks: Mutex<MauticQuirks>,
    /// One error to answer to the next `/api` call: (status, message).
    injected: Mutex<Option<(u16, String)>>,
    control: Arc<SimControl>,
    client_id: String,
    client_secret: String,
    /// The whole `Authorization` header Basic auth expects.
    basic_header: Option<String>,
    token_ttl: Duration,
}

impl Shared {
    /// The simulator's clock, to the second as MySQL's DATETIME keeps it.
    fn now(&self) -> DateTime<Utc> {
        let t = self.control.now();
        DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
    }

    fn quirks(&self) -> MauticQuirks {
        lock(&self.quirks).clone()
    }

    /// The `Mautic-Version` header: the quirk's, or the profile's.
    fn version(&self) -> String {
        let quirk = lock(&self.quirks).version.clone();
        quirk.unwrap_or_else(|| lock(&self.state).profile.version().to_owned())
    }

    fn error(&self, status: u16, message: &str) -> Response {
        self.item_error(&ItemError::plain(status, message))
    }

    /// An error answer for a refused write or call, its `details` included
    /// (`FetchCommonApiController::returnError`).
    fn item_error(&self, e: &ItemError) -> Response {
        let legacy = lock(&self.quirks).legacy_errors;
        json_response(e.code, render::error_body(e, legacy))
    }
}

/// A running simulated Mautic. Stops when dropped.
#[derive(Debug)]
pub struct MauticSim {
    shared: Arc<Shared>,
    server: SimServer,
}

fn json_response(status: u16, body: Json) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

fn to_map(fields: &[(&str, Json)]) -> Map<String, Json> {
    fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

impl MauticSim {
    pub async fn start(opts: MauticSimOptions) -> std::io::Result<MauticSim> {
        let control = SimControl::new(opts.seed);
        let basic_header = opts
            .basic_auth
            .as_ref()
            .map(|(u, p)| format!("Basic {}", base64(format!("{u}:{p}").as_bytes())));
        let shared = Arc::new(Shared {
            state: Mutex::new(Tracked::new(State::new(
                opts.profile,
                opts.null_date_modified_on_create,
            ))),
            list_cache: Mutex::new(None),
            tokens: Mutex::new(Tokens::default()),
            quirks: Mutex::new(opts.quirks.clone()),
            injected: Mutex::new(None),
            control: control.clone(),
            client_id: opts.client_id,
            client_secret: opts.client_secret,
            basic_header,
            token_ttl: opts.token_ttl,
        });
        let server = SimServer::start(router(shared.clone()), opts.port).await?;
        Ok(MauticSim { shared, server })
    }

    /// `http://127.0.0.1:port`
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn control(&self) -> &Arc<SimControl> {
        &self.shared.control
    }

    pub fn quirks(&self) -> MauticQuirks {
        self.shared.quirks()
    }

    pub fn update_quirks(&self, f: impl FnOnce(&mut MauticQuirks)) {
        f(&mut lock(&self.shared.quirks));
    }

    /// The next `/api` call (after authentication) answers `status` with `message`, in the
    /// error shape the quirks say.
    pub fn inject_error(&self, status: u16, message: &str) {
        *lock(&self.shared.injected) = Some((status, message.to_owned()));
    }

    /// Stops the server, letting requests in flight finish.
    pub async fn stop(self) {
        self.server.stop().await;
    }

    fn check_aliases(&self, object: Object, fields: &[(&str, Json)]) {
        let st = lock(&self.shared.state);
        for (alias, _) in fields {
            assert!(
                st.catalog.get(object, alias).is_some(),
                "the simulated Mautic has no {} field '{alias}'",
                object.api_name()
            );
        }
    }

    /// Creates a contact as a user would (not through the API, not counted). It is identified
    /// when it has a name, an e-mail or a company.
    ///
    /// # Panics
    /// On an alias the simulator does not know (a typo in a test).
    pub fn add_contact(&self, fields: &[(&str, Json)]) -> u64 {
        self.check_aliases(Object::Contact, fields);
        let now = self.shared.now();
        lock(&self.shared.state).user_add_contact(&to_map(fields), now)
    }

    /// A tracked visitor never identified: no e-mail, no `dateIdentified`.
    pub fn add_anonymous_visitor(&self) -> u64 {
        let now = self.shared.now();
        lock(&self.shared.state).user_add_anonymous(now)
    }

    /// Edits a contact as a user would (blanks clear); moves `date_modified`. False when the
    /// contact does not exist.
    ///
    /// # Panics
    /// On an alias the simulator does not know.
    pub fn edit_contact(&self, id: u64, fields: &[(&str, Json)]) -> bool {
        self.check_aliases(Object::Contact, fields);
        let now = self.shared.now();
        lock(&self.shared.state).user_edit_contact(id, &to_map(fields), now)
    }

    /// # Panics
    /// On an alias the simulator does not know.
    pub fn add_company(&self, fields: &[(&str, Json)]) -> u64 {
        self.check_aliases(Object::Company, fields);
        let now = self.shared.now();
        lock(&self.shared.state).user_add_company(&to_map(fields), now)
    }

    /// # Panics
    /// On an alias the simulator does not know.
    pub fn edit_company(&self, id: u64, fields: &[(&str, Json)]) -> bool {
        self.check_aliases(Object::Company, fields);
        let now = self.shared.now();
        lock(&self.shared.state).user_edit_company(id, &to_map(fields), now)
    }

    /// Links a contact to a company as a user would in Mautic's interface, primary or not; a
    /// primary link names the company in the contact's `company` field. Nothing happens when
    /// either does not exist.
    pub fn link_contact_company(&self, contact: u64, company: u64, primary: bool) {
        let now = self.shared.now();
        lock(&self.shared.state).user_link(contact, company, primary, now);
    }

    /// Adds an e-mail Do Not Contact entry (1 unsubscribed, 2 bounced, 3 manual), as Mautic
    /// does when an e-mail bounces or a contact unsubscribes. Nothing happens when the contact
    /// does not exist.
    pub fn add_dnc(&self, contact: u64, reason: u8) {
        let now = self.shared.now();
        let _ = lock(&self.shared.state).add_dnc(contact, "email", reason.into(), "", now);
    }

    /// Removes the e-mail Do Not Contact entry.
    pub fn remove_dnc(&self, contact: u64) {
        let now = self.shared.now();
        let _ = lock(&self.shared.state).remove_dnc(contact, "email", now);
    }

    /// Merges `loser` into `winner` as Mautic's interface or its deduplicate command does
    /// (`ContactMerger::merge`): the loser is deleted and its id names the winner from then
    /// on. False when either does not exist.
    pub fn merge_contacts(&self, winner: u64, loser: u64) -> bool {
        let now = self.shared.now();
        lock(&self.shared.state).merge_contacts(winner, loser, now)
    }

    /// Creates a custom field as an admin does with the form's defaults (not unique, no
    /// decimals, 64 characters), visible at once in `GET /api/fields/...`.
    ///
    /// # Panics
    /// On an object other than "contact" or "company", or a type Mautic does not have.
    pub fn add_custom_field(&self, object: &str, alias: &str, field_type: &str) {
        self.add_custom_field_with(object, alias, field_type, CustomField::standard());
    }

    /// Creates a custom field with the options an admin chose.
    ///
    /// # Panics
    /// As [`MauticSim::add_custom_field`].
    pub fn add_custom_field_with(
        &self,
        object: &str,
        alias: &str,
        field_type: &str,
        how: CustomField,
    ) {
        let object = Object::from_path(object).unwrap_or_else(|| {
            panic!("Mautic objects are 'contact' and 'company', not '{object}'")
        });
        lock(&self.shared.state).add_custom_field(object, alias, field_type, how);
    }

    /// Ticks or unticks "Is unique identifier" on a field (the e-mail is one by default).
    ///
    /// # Panics
    /// On an unknown object or field.
    pub fn set_unique_identifier(&self, object: &str, alias: &str, unique: bool) {
        let o = Object::from_path(object).unwrap_or_else(|| panic!("no Mautic object '{object}'"));
        assert!(
            lock(&self.shared.state).set_unique(o, alias, unique),
            "the simulated Mautic has no {object} field '{alias}'"
        );
    }

    /// How several unique identifiers combine (`contact_unique_identifiers_operator` and
    /// `company_unique_identifiers_operator`, OR by default).
    pub fn set_unique_operator(&self, object: &str, operator: UniqueOperator) {
        let mut st = lock(&self.shared.state);
        match Object::from_path(object) {
            Some(Object::Contact) => st.contact_operator = operator,
            Some(Object::Company) => st.company_operator = operator,
            None => panic!("no Mautic object '{object}'"),
        }
    }

    /// Which Mautic this is.
    pub fn profile(&self) -> MauticProfile {
        lock(&self.shared.state).profile
    }

    /// Companies created through the API or by a contact's `company` text, per lower-cased
    /// name: more than 1 is a duplicate a sync made.
    pub fn created_per_company_name(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.state).created_per_company_name.clone()
    }

    /// Every access token issued so far, expired and revoked ones included.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared.tokens).issued.keys().cloned().collect()
    }

    /// Every token issued so far is now expired.
    pub fn expire_tokens(&self) {
        for (_, revoked) in lock(&self.shared.tokens).issued.values_mut() {
            *revoked = true;
        }
    }

    pub fn contact(&self, id: u64) -> Option<SimContact> {
        lock(&self.shared.state).contacts.get(&id).map(sim_contact)
    }

    /// Every contact, by id.
    pub fn contacts(&self) -> Vec<SimContact> {
        lock(&self.shared.state)
            .contacts
            .values()
            .map(sim_contact)
            .collect()
    }

    pub fn company(&self, id: u64) -> Option<SimCompany> {
        lock(&self.shared.state).companies.get(&id).map(sim_company)
    }

    pub fn companies(&self) -> Vec<SimCompany> {
        lock(&self.shared.state)
            .companies
            .values()
            .map(sim_company)
            .collect()
    }

    /// The contacts holding this e-mail, compared case-insensitively.
    pub fn contacts_with_email(&self, email: &str) -> Vec<u64> {
        let wanted = email.trim().to_lowercase();
        lock(&self.shared.state)
            .contacts
            .values()
            .filter(|c| {
                c.fields
                    .get("email")
                    .and_then(Json::as_str)
                    .is_some_and(|e| e.trim().to_lowercase() == wanted)
            })
            .map(|c| c.id)
            .collect()
    }

    /// Contacts created through the API, per lower-cased e-mail: more than 1 is a duplicate
    /// a sync made.
    pub fn created_per_email(&self) -> BTreeMap<String, u64> {
        lock(&self.shared.state).created_per_email.clone()
    }

    /// Contacts deleted because an edit gave another contact their e-mail (merged away).
    pub fn deleted_contacts(&self) -> Vec<u64> {
        lock(&self.shared.state).deleted.clone()
    }

    /// The ids of the identified contacts (anonymous visitors left out), ascending.
    pub fn contact_ids(&self) -> Vec<u64> {
        lock(&self.shared.state)
            .contacts
            .values()
            .filter(|c| c.date_identified.is_some())
            .map(|c| c.id)
            .collect()
    }

    /// The ids of the companies, ascending.
    pub fn company_ids(&self) -> Vec<u64> {
        lock(&self.shared.state).companies.keys().copied().collect()
    }

    /// Everything the simulator holds (contacts, companies, fields), to put back later with
    /// [`MauticSim::restore`]: the scale bench replays a cycle's requests against the state
    /// the cycle met. Tokens, quirks, knobs and counters are not part of it.
    pub fn snapshot(&self) -> MauticSnapshot {
        MauticSnapshot(State::clone(&lock(&self.shared.state)))
    }

    /// Puts back what [`MauticSim::snapshot`] took.
    pub fn restore(&self, snapshot: &MauticSnapshot) {
        *lock(&self.shared.state) = Tracked::new(snapshot.0.clone());
    }
}

/// The data of a simulated Mautic at one moment (see [`MauticSim::snapshot`]).
#[derive(Debug, Clone)]
pub struct MauticSnapshot(State);

fn sim_contact(c: &state::Contact) -> SimContact {
    SimContact {
        id: c.id,
        fields: c.fields.clone(),
        date_added: c.date_added,
        date_modified: c.date_modified,
        date_identified: c.date_identified,
        dnc: c
            .dnc
            .iter()
            .filter(|d| d.channel == "email")
            .map(|d| (d.reason, d.date_added))
            .collect(),
        companies: c.companies.iter().map(|l| (l.company, l.primary)).collect(),
        anonymous: c.date_identified.is_none(),
    }
}

fn sim_company(c: &state::Company) -> SimCompany {
    SimCompany {
        id: c.id,
        fields: c.fields.clone(),
        date_added: c.date_added,
        date_modified: c.date_modified,
    }
}

/// Standard base64, for the expected Basic `Authorization` header.
fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

type S = AxumState<Arc<Shared>>;

fn router(shared: Arc<Shared>) -> Router {
    let control = shared.control.clone();
    let api = Router::new()
        .route("/api/fields/{object}", get(fields_route))
        .route("/api/contacts", get(list_contacts))
        .route("/api/contacts/new", post(new_contact))
        .route("/api/contacts/batch/new", post(batch_new_contacts))
        .route(
            "/api/contacts/batch/edit",
            patch(batch_edit_contacts).put(batch_edit_contacts),
        )
        .route("/api/contacts/{id}", get(get_contact))
        .route(
            "/api/contacts/{id}/delete",
            axum::routing::delete(delete_contact),
        )
        .route(
            "/api/contacts/{id}/edit",
            patch(edit_contact).put(edit_contact),
        )
        .route("/api/contacts/{id}/companies", get(contact_companies))
        .route("/api/contacts/{id}/dnc/{channel}/{action}", post(dnc_route))
        .route("/api/companies", get(list_companies))
        .route("/api/companies/new", post(new_company))
        .route("/api/companies/batch/new", post(batch_new_companies))
        .route(
            "/api/companies/batch/edit",
            patch(batch_edit_companies).put(batch_edit_companies),
        )
        .route("/api/companies/{id}", get(get_company))
        .route(
            "/api/companies/{id}/edit",
            patch(edit_company).put(edit_company),
        )
        .route(
            "/api/companies/{company}/contact/{contact}/{action}",
            post(link_route),
        )
        .route_layer(from_fn_with_state(shared.clone(), api_guard));
    Router::new()
        .route("/oauth/v2/token", post(token_route))
        .merge(api)
        .fallback(unknown_route)
        .route_layer(from_fn_with_state(control, apply_knobs))
        .with_state(shared)
}

async fn unknown_route(AxumState(s): S, uri: axum::http::Uri) -> Response {
    let mut response = s.error(404, "Requested URL not found");
    if uri.path().starts_with("/api")
        && let Ok(v) = HeaderValue::from_str(&s.version())
    {
        response.headers_mut().insert("mautic-version", v);
    }
    response
}

/// Authentication and the API switch for every `/api` route, and the `Mautic-Version` header
/// on every answer.
async fn api_guard(AxumState(s): S, request: Request, next: Next) -> Response {
    let mut response = guarded(&s, request, next).await;
    if let Ok(v) = HeaderValue::from_str(&s.version()) {
        response.headers_mut().insert("mautic-version", v);
    }
    response
}

/// The answer of any API or OAuth call while the API is off (`ApiSubscriber::onKernelRequest`;
/// `LeadApiControllerFunctionalTest::testDisabledApi` asserts it exactly: no `details`).
fn api_disabled(s: &Shared) -> Response {
    let body = if s.quirks().legacy_errors {
        render::error_body(&ItemError::plain(403, API_DISABLED), true)
    } else {
        json!({"errors": [{"message": API_DISABLED, "code": 403, "type": "api_disabled"}]})
    };
    json_response(403, body)
}

/// An authentication failure as `ApiSubscriber::onKernelResponse` rewrites it:
/// `{"errors":[{"message","code","type": <the OAuth2 error>}]}` (`Oauth2Test`).
fn auth_error(status: u16, message: &str, kind: &str) -> Response {
    json_response(
        status,
        json!({"errors": [{"message": message, "code": status, "type": kind}]}),
    )
}

async fn guarded(s: &Shared, request: Request, next: Next) -> Response {
    if !s.quirks().api_enabled {
        return api_disabled(s);
    }
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if let Some(token) = auth.strip_prefix("Bearer ") {
        let state = lock(&s.tokens).issued.get(token.trim()).copied();
        let problem = match state {
            None => Some("The access token provided is invalid."),
            Some((expiry, revoked)) if revoked || Instant::now() >= expiry => {
                Some("The access token provided has expired.")
            }
            Some(_) => None,
        };
        if let Some(description) = problem {
            return auth_error(401, description, "invalid_grant");
        }
    } else if auth.starts_with("Basic ") {
        if s.basic_header.as_deref() != Some(auth.trim()) {
            return auth_error(401, "API authorization denied.", "access_denied");
        }
    } else {
        return auth_error(401, "API authorization denied.", "access_denied");
    }
    if let Some((status, message)) = lock(&s.injected).take() {
        return s.error(status, &message);
    }
    next.run(request).await
}

const API_DISABLED: &str =
    "API disabled. You need to enable the API in the API settings of Mautic's Configuration.";

/// A request body as PHP's `$request->request->all()` sees it: JSON, or a form.
fn body_json(headers: &HeaderMap, body: &Bytes) -> Result<Json, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Json::Object(Map::new()));
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let text = String::from_utf8_lossy(body);
        let params = query::nest_params(&parse_urlencoded(&text));
        return Ok(param_json(&query::Param::Arr(params)));
    }
    serde_json::from_slice(body).map_err(|e| format!("Request body is not valid JSON: {e}"))
}

fn param_json(p: &query::Param) -> Json {
    match p {
        query::Param::Str(s) => Json::String(s.clone()),
        query::Param::Arr(items) => Json::Object(
            items
                .iter()
                .map(|(k, v)| (k.clone(), param_json(v)))
                .collect(),
        ),
    }
}

/// `POST /oauth/v2/token` (FOSOAuthServerBundle), its errors rewritten by `ApiSubscriber`
/// (`Oauth2Test`: `{"errors":[{"message":"The client credentials are invalid","code":400,
/// "type":"invalid_client"}]}`). The API switch covers it too.
async fn token_route(AxumState(s): S, headers: HeaderMap, body: Bytes) -> Response {
    if !s.quirks().api_enabled {
        return api_disabled(&s);
    }
    let params = match body_json(&headers, &body) {
        Ok(Json::Object(m)) => m,
        _ => Map::new(),
    };
    let get = |k: &str| params.get(k).and_then(Json::as_str).unwrap_or("");
    let oauth_error = |code: &str, description: &str| auth_error(400, description, code);
    match get("grant_type") {
        "" => {
            return oauth_error(
                "invalid_request",
                "Invalid grant_type parameter or parameter missing",
            );
        }
        "client_credentials" => {}
        _ => {
            return oauth_error(
                "unsupported_grant_type",
                "Invalid grant_type parameter or parameter missing",
            );
        }
    }
    if get("client_id") != s.client_id || get("client_secret") != s.client_secret {
        return oauth_error("invalid_client", "The client credentials are invalid");
    }
    let token: String = s
        .control
        .with_rng(|r| format!("{:032x}", r.random::<u128>()));
    lock(&s.tokens)
        .issued
        .insert(token.clone(), (Instant::now() + s.token_ttl, false));
    json_response(
        200,
        json!({
            "access_token": token,
            "expires_in": s.token_ttl.as_secs(),
            "token_type": "bearer",
            "scope": null,
        }),
    )
}

/// `GET /api/fields/{object}` (`FieldApiController`, paged and filtered by
/// `FetchCommonApiController::getEntitiesAction`; see [`fields::Catalog::page_json`]).
async fn fields_route(
    AxumState(s): S,
    Path(object): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let lq = match ListQuery::parse(q.as_deref().unwrap_or(""), &fields::known_field_column) {
        Ok(lq) => lq,
        Err(m) => return s.error(400, &m),
    };
    let body = lock(&s.state)
        .catalog
        .page_json(Object::from_path(&object), &lq);
    json_text_response(body)
}

/// A list answer with the records in query order: `{"total":"N","contacts":{"id":{...}}}`.
/// Written by hand because a JSON object's key order is the query's order.
fn list_body(quirks: &MauticQuirks, key: &str, total: usize, page: Vec<(u64, Json)>) -> String {
    let total = total as u64 + quirks.inflate_total;
    let mut out = String::from("{\"total\":");
    if quirks.total_as_string {
        out.push_str(&format!("\"{total}\""));
    } else {
        out.push_str(&total.to_string());
    }
    out.push_str(&format!(",\"{key}\":"));
    if page.is_empty() {
        out.push_str(if quirks.empty_list_as_array {
            "[]"
        } else {
            "{}"
        });
    } else {
        out.push('{');
        for (i, (id, record)) in page.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("\"{id}\":{record}"));
        }
        out.push('}');
    }
    out.push('}');
    out
}

fn json_text_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

async fn list_contacts(AxumState(s): S, RawQuery(q): RawQuery) -> Response {
    let quirks = s.quirks();
    let st = lock(&s.state);
    let known = |c: &str| known_column(&st.catalog, Object::Contact, c);
    let lq = match ListQuery::parse(q.as_deref().unwrap_or(""), &known) {
        Ok(lq) => lq,
        Err(m) => {
            drop(st);
            return s.error(400, &m);
        }
    };
    let catalog = &st.catalog;
    let (total, ids) = page_ids(
        &s,
        st.version(),
        Object::Contact,
        &lq,
        &st.contacts,
        |c| ContactRow {
            contact: c,
            catalog,
        },
        ("last_active", true),
    );
    let page = ids
        .into_iter()
        .map(|id| {
            (
                id,
                render::contact_json(&st.contacts[&id], &st.catalog, &st.tag_ids),
            )
        })
        .collect();
    json_text_response(list_body(&quirks, "contacts", total, page))
}

async fn list_companies(AxumState(s): S, RawQuery(q): RawQuery) -> Response {
    let quirks = s.quirks();
    let st = lock(&s.state);
    let known = |c: &str| known_column(&st.catalog, Object::Company, c);
    let lq = match ListQuery::parse(q.as_deref().unwrap_or(""), &known) {
        Ok(lq) => lq,
        Err(m) => {
            drop(st);
            return s.error(400, &m);
        }
    };
    let catalog = &st.catalog;
    let (total, ids) = page_ids(
        &s,
        st.version(),
        Object::Company,
        &lq,
        &st.companies,
        |c| CompanyRow {
            company: c,
            catalog,
        },
        ("companyname", false),
    );
    let page = ids
        .into_iter()
        .map(|id| (id, render::company_json(&st.companies[&id], &st.catalog)))
        .collect();
    json_text_response(list_body(&quirks, "companies", total, page))
}

/// The ids of the page a list query asks for, and how many records match it: by keyset when
/// the query is the one fieldsync sends (ordered by id, `id > n`), otherwise every match
/// sorted by the query's order (`default_order` without one), then by id, and cut at `start`.
/// `row` shows a record as the query language reads it.
fn page_ids<'a, T, R: query::Row>(
    s: &Shared,
    version: u64,
    object: Object,
    lq: &ListQuery,
    records: &'a BTreeMap<u64, T>,
    row: impl Fn(&'a T) -> R,
    default_order: (&str, bool),
) -> (usize, Vec<u64>) {
    let selects = |lq: &ListQuery, r: &'a T| lq.selects(&row(r));
    if let Some(found) = keyset_ids(s, version, object, lq, records, selects) {
        return found;
    }
    let mut rows: Vec<(&u64, R)> = records
        .iter()
        .filter(|(_, r)| selects(lq, r))
        .map(|(id, r)| (id, row(r)))
        .collect();
    let (cols, desc) = lq
        .order
        .clone()
        .unwrap_or_else(|| (vec![default_order.0.to_owned()], default_order.1));
    rows.sort_by(|a, b| order_rows(&a.1, &b.1, &cols, desc).then(a.0.cmp(b.0)));
    let page = rows.iter().skip(lq.start).take(lq.limit);
    (rows.len(), page.map(|(id, _)| **id).collect())
}

/// The ids a keyset query matched, cached against the state's version.
#[derive(Debug)]
struct ListCache {
    version: u64,
    /// The object and the query without its id bound, start and limit.
    key: String,
    /// In id order.
    ids: Vec<u64>,
}

/// Answers a keyset query (ordered by id ascending, with a top-level `id > n` or `id >= n`:
/// how the connector pages) without scanning and sorting every record for each page: the
/// ids matching the rest of the query are found once and kept until the state changes;
/// each page is then a slice after `n`. The same rows, order and total as the general path.
/// `None` for any other query.
fn keyset_ids<'a, T>(
    s: &Shared,
    version: u64,
    object: Object,
    lq: &ListQuery,
    records: &'a BTreeMap<u64, T>,
    selects: impl Fn(&ListQuery, &'a T) -> bool,
) -> Option<(usize, Vec<u64>)> {
    use query::{CmpOp, Expr};
    if lq.order != Some((vec!["id".to_owned()], false)) {
        return None;
    }
    let mut rest = ListQuery {
        filter: Vec::new(),
        ..lq.clone()
    };
    let mut bound = None;
    for e in &lq.filter {
        match e {
            Expr::Cmp { col, op, val }
                if col == "id"
                    && bound.is_none()
                    && matches!(op, CmpOp::Gt | CmpOp::Gte)
                    && val.trim().parse::<u64>().is_ok() =>
            {
                let n: u64 = val.trim().parse().ok()?;
                bound = Some(if *op == CmpOp::Gt {
                    n.checked_add(1)?
                } else {
                    n
                });
            }
            other => rest.filter.push(other.clone()),
        }
    }
    let first = bound?;
    let key = format!("{object:?} {:?} {:?}", rest.search, rest.filter);
    let mut cache = lock(&s.list_cache);
    let fresh = cache
        .as_ref()
        .is_some_and(|c| c.version == version && c.key == key);
    if !fresh {
        let ids = records
            .iter()
            .filter(|(_, r)| selects(&rest, r))
            .map(|(id, _)| *id)
            .collect();
        *cache = Some(ListCache { version, key, ids });
    }
    let ids = &cache.as_ref().expect("just filled").ids;
    let after = &ids[ids.partition_point(|id| *id < first)..];
    let page = after
        .iter()
        .skip(lq.start)
        .take(lq.limit)
        .copied()
        .collect();
    Some((after.len(), page))
}

fn parse_id(raw: &str) -> Option<u64> {
    raw.trim().parse().ok()
}

/// `GET /api/contacts/{id}`; a merged-away id names the winner (`LeadModel::getEntity` falls
/// back to `contact_merge_records`).
async fn get_contact(AxumState(s): S, Path(id): Path<String>) -> Response {
    let st = lock(&s.state);
    match parse_id(&id)
        .and_then(|id| st.resolve_contact(id))
        .and_then(|id| st.contacts.get(&id))
    {
        Some(c) => json_response(
            200,
            json!({"contact": render::contact_json(c, &st.catalog, &st.tag_ids)}),
        ),
        None => {
            drop(st);
            s.error(404, "Item was not found.")
        }
    }
}

/// `DELETE /api/contacts/{id}/delete` (`CommonApiController::deleteEntityAction`): 200 and
/// the contact as it was.
async fn delete_contact(AxumState(s): S, Path(id): Path<String>) -> Response {
    let mut st = lock(&s.state);
    match parse_id(&id).map(|id| st.api_delete_contact(id)) {
        Some(Ok(c)) => {
            let body = json!({"contact": render::contact_json(&c, &st.catalog, &st.tag_ids)});
            json_response(200, body)
        }
        Some(Err(e)) => {
            drop(st);
            item_error(&s, e)
        }
        None => {
            drop(st);
            s.error(404, "Item was not found.")
        }
    }
}

async fn get_company(AxumState(s): S, Path(id): Path<String>) -> Response {
    let st = lock(&s.state);
    match parse_id(&id).and_then(|id| st.companies.get(&id)) {
        Some(c) => json_response(
            200,
            json!({"company": render::company_json(c, &st.catalog)}),
        ),
        None => {
            drop(st);
            s.error(404, "Item was not found.")
        }
    }
}

async fn contact_companies(AxumState(s): S, Path(id): Path<String>) -> Response {
    let st = lock(&s.state);
    let Some(c) = parse_id(&id).and_then(|id| st.contacts.get(&id)) else {
        drop(st);
        return s.error(404, "Item was not found.");
    };
    let rows: Vec<Json> = c
        .companies
        .iter()
        .filter_map(|l| {
            st.companies
                .get(&l.company)
                .map(|k| render::contact_company_json(k, &st.catalog, l.primary, l.date_associated))
        })
        .collect();
    json_response(200, json!({"total": rows.len(), "companies": rows}))
}

/// Reads a single-item body; the message of a 400 when it is not an object.
fn single_body(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Json>, String> {
    match body_json(headers, body) {
        Ok(Json::Object(m)) => Ok(m),
        Ok(_) => Err("Request body must be an object.".into()),
        Err(m) => Err(m),
    }
}

fn method_of(m: &axum::http::Method) -> Method {
    if m == axum::http::Method::PUT {
        Method::Put
    } else {
        Method::Patch
    }
}

fn item_error(s: &Shared, e: ItemError) -> Response {
    s.item_error(&e)
}

async fn new_contact(AxumState(s): S, headers: HeaderMap, body: Bytes) -> Response {
    let params = match single_body(&headers, &body) {
        Ok(p) => p,
        Err(m) => return s.error(400, &m),
    };
    let now = s.now();
    let mut st = lock(&s.state);
    match st.api_new_contact(&params, now, true) {
        Ok((code, id)) => json_response(
            code,
            json!({"contact": render::contact_json(&st.contacts[&id], &st.catalog, &st.tag_ids)}),
        ),
        Err(e) => {
            drop(st);
            item_error(&s, e)
        }
    }
}

async fn edit_contact(
    AxumState(s): S,
    method: axum::http::Method,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match single_body(&headers, &body) {
        Ok(p) => p,
        Err(m) => return s.error(400, &m),
    };
    // `{id}` has no route requirement: an id that is not a number names no contact
    // (PATCH: 404; PUT: a new contact).
    let id = parse_id(&id).unwrap_or(0);
    let now = s.now();
    let mut st = lock(&s.state);
    match st.api_edit_contact(id, &params, method_of(&method), now, false) {
        Ok((code, id)) => json_response(
            code,
            json!({"contact": render::contact_json(&st.contacts[&id], &st.catalog, &st.tag_ids)}),
        ),
        Err(e) => {
            drop(st);
            item_error(&s, e)
        }
    }
}

async fn new_company(AxumState(s): S, headers: HeaderMap, body: Bytes) -> Response {
    let params = match single_body(&headers, &body) {
        Ok(p) => p,
        Err(m) => return s.error(400, &m),
    };
    let now = s.now();
    let mut st = lock(&s.state);
    match st.api_new_company(&params, now) {
        Ok((code, id)) => json_response(
            code,
            json!({"company": render::company_json(&st.companies[&id], &st.catalog)}),
        ),
        Err(e) => {
            drop(st);
            item_error(&s, e)
        }
    }
}

async fn edit_company(
    AxumState(s): S,
    method: axum::http::Method,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match single_body(&headers, &body) {
        Ok(p) => p,
        Err(m) => return s.error(400, &m),
    };
    let id = parse_id(&id).unwrap_or(0);
    let now = s.now();
    let mut st = lock(&s.state);
    match st.api_edit_company(id, &params, method_of(&method), now) {
        Ok((code, id)) => json_response(
            code,
            json!({"company": render::company_json(&st.companies[&id], &st.catalog)}),
        ),
        Err(e) => {
            drop(st);
            item_error(&s, e)
        }
    }
}

/// Mautic's `api_batch_max_limit` (`ApiBundle/Config/config.php:101`).
const BATCH_LIMIT: usize = 200;

/// What a batch does with one item.
#[derive(Clone, Copy)]
enum BatchOp {
    NewContact,
    EditContact(Method),
    NewCompany,
    EditCompany(Method),
}

/// Runs a batch (`CommonApiController::newEntitiesAction` / `editEntitiesAction`): the items
/// of a JSON list (or of an object keyed by index), at most 200, each answered in
/// `statusCodes` and, when it failed, in `errors`; HTTP 201 for `batch/new` and 200 for
/// `batch/edit` whatever the items gave. An edit item's `id` that names no record: 404 on
/// PATCH, a new record (201) on PUT (`testBatchEditEndpointWithRubbishId`); no `id` at all:
/// 400 with the untranslated `mautic.api.call.id_missing` (`BatchIdToEntityHelper`).
fn run_batch(s: &Shared, headers: &HeaderMap, body: &Bytes, op: BatchOp) -> Response {
    let items: Vec<(usize, Json)> = match body_json(headers, body) {
        Ok(Json::Array(a)) => a.into_iter().enumerate().collect(),
        Ok(Json::Object(m)) => m
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| (k.parse().unwrap_or(i), v))
            .collect(),
        Ok(_) => return s.error(400, "Request body must be a list of items."),
        Err(m) => return s.error(400, &m),
    };
    if items.len() > BATCH_LIMIT {
        return s.error(
            500,
            &format!("A max of {BATCH_LIMIT} entities are supported at a time."),
        );
    }
    let now = s.now();
    let mut st = lock(&s.state);
    let (key, http_status) = match op {
        BatchOp::NewContact => ("contacts", 201),
        BatchOp::EditContact(_) => ("contacts", 200),
        BatchOp::NewCompany => ("companies", 201),
        BatchOp::EditCompany(_) => ("companies", 200),
    };
    let mut entities = BTreeMap::new();
    let mut codes = BTreeMap::new();
    let mut errors = BTreeMap::new();
    // The records are serialized once every item is done: an entity edited by two items
    // shows its final state in both (`testBatchEditEndpointSameContact`).
    let mut saved = Vec::new();
    for (idx, item) in items {
        let Json::Object(params) = item else {
            codes.insert(idx, json!(400));
            errors.insert(
                idx,
                json!({"message": "Item must be an object.", "code": 400, "type": "api"}),
            );
            continue;
        };
        let id = params.get("id").map(|v| match v {
            Json::Number(n) => n.as_u64().unwrap_or(0),
            Json::String(t) => parse_id(t).unwrap_or(0),
            _ => 0,
        });
        let result = match op {
            BatchOp::NewContact => st.api_new_contact(&params, now, false),
            BatchOp::NewCompany => st.api_batch_new_company(&params, now),
            BatchOp::EditContact(m) | BatchOp::EditCompany(m) => match id {
                None => Err(ItemError {
                    batch_api_error: true,
                    ..ItemError::plain(400, "mautic.api.call.id_missing")
                }),
                Some(id) => match op {
                    BatchOp::EditContact(_) => st.api_edit_contact(id, &params, m, now, true),
                    _ => st.api_edit_company(id, &params, m, now),
                },
            },
        };
        match result {
            Ok((code, id)) => {
                codes.insert(idx, json!(code));
                saved.push((idx, id));
            }
            Err(e) => {
                codes.insert(idx, json!(e.code));
                errors.insert(idx, render::batch_error(&e));
            }
        }
    }
    for (idx, id) in saved {
        let record = match op {
            BatchOp::NewContact | BatchOp::EditContact(_) => st
                .contacts
                .get(&id)
                .map(|c| render::contact_json(c, &st.catalog, &st.tag_ids)),
            _ => st
                .companies
                .get(&id)
                .map(|c| render::company_json(c, &st.catalog)),
        };
        if let Some(r) = record {
            entities.insert(idx, r);
        }
    }
    let mut out = Map::new();
    out.insert(key.into(), render::php_array(entities));
    out.insert("statusCodes".into(), render::php_array(codes));
    if !errors.is_empty() {
        out.insert("errors".into(), render::php_array(errors));
    }
    json_response(http_status, Json::Object(out))
}

async fn batch_new_contacts(AxumState(s): S, headers: HeaderMap, body: Bytes) -> Response {
    run_batch(&s, &headers, &body, BatchOp::NewContact)
}

async fn batch_edit_contacts(
    AxumState(s): S,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_batch(
        &s,
        &headers,
        &body,
        BatchOp::EditContact(method_of(&method)),
    )
}

async fn batch_new_companies(AxumState(s): S, headers: HeaderMap, body: Bytes) -> Response {
    run_batch(&s, &headers, &body, BatchOp::NewCompany)
}

async fn batch_edit_companies(
    AxumState(s): S,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run_batch(
        &s,
        &headers,
        &body,
        BatchOp::EditCompany(method_of(&method)),
    )
}

/// The `reason` of a DNC add as `(int) $request->request->get('reason', 3)` reads it
/// (`LeadApiController::addDncAction`): absent is 3 (manual); `null`, `false` and text that
/// starts with no digit cast to 0, which is refused.
fn php_int_reason(v: Option<&Json>) -> i64 {
    match v {
        None => 3,
        Some(Json::Null) | Some(Json::Bool(false)) => 0,
        Some(Json::Bool(true)) => 1,
        Some(Json::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.trunc() as i64))
            .unwrap_or(0),
        Some(Json::String(t)) => {
            let t = t.trim();
            let end = t
                .char_indices()
                .take_while(|(i, c)| c.is_ascii_digit() || (*i == 0 && (*c == '-' || *c == '+')))
                .map(|(i, c)| i + c.len_utf8())
                .last()
                .unwrap_or(0);
            t[..end].parse().unwrap_or(0)
        }
        Some(_) => 1,
    }
}

/// `POST /api/contacts/{id}/dnc/{channel}/add|remove` (`LeadApiController::addDncAction`,
/// `removeDncAction`): add answers `{"contact"}`, remove `{"recordFound", "contact"}`; a
/// reason that reads as 0 is refused with 400 (`testAddAndRemoveDncToExistingContact`).
async fn dnc_route(
    AxumState(s): S,
    Path((id, channel, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match single_body(&headers, &body) {
        Ok(p) => p,
        Err(m) => return s.error(400, &m),
    };
    let Some(id) = parse_id(&id) else {
        return s.error(404, "Item was not found.");
    };
    let now = s.now();
    let mut st = lock(&s.state);
    let result = match action.as_str() {
        "add" => {
            let reason = php_int_reason(params.get("reason"));
            if reason == 0 {
                drop(st);
                return s.item_error(&ItemError {
                    details: json!(["Reason code needs to be an integer and higher than 0."]),
                    ..ItemError::plain(400, "Invalid reason code given")
                });
            }
            let comments = params
                .get("comments")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned();
            st.add_dnc(id, &channel, reason, &comments, now)
                .map(|_| None)
        }
        "remove" => st.remove_dnc(id, &channel, now).map(Some),
        _ => Err(ItemError::plain(404, "Requested URL not found")),
    };
    match result {
        Ok(found) => {
            let id = st.resolve_contact(id).unwrap_or(id);
            let contact = render::contact_json(&st.contacts[&id], &st.catalog, &st.tag_ids);
            match found {
                None => json_response(200, json!({"contact": contact})),
                Some(f) => json_response(200, json!({"recordFound": f, "contact": contact})),
            }
        }
        Err(e) => {
            drop(st);
            item_error(&s, e)
        }
    }
}

/// `POST /api/companies/{c}/contact/{p}/add|remove` (`CompanyApiController::addContactAction`
/// and `removeContactAction`): HTTP 200 `{"success": 1}`, a number, whether or not anything
/// changed.
async fn link_route(
    AxumState(s): S,
    Path((company, contact, action)): Path<(String, String, String)>,
) -> Response {
    let (Some(company), Some(contact)) = (parse_id(&company), parse_id(&contact)) else {
        return s.error(404, "Item was not found.");
    };
    let now = s.now();
    let result = match action.as_str() {
        "add" => lock(&s.state).link(contact, company, now),
        "remove" => lock(&s.state).unlink(contact, company, now),
        _ => Err(ItemError::plain(404, "Requested URL not found")),
    };
    match result {
        Ok(()) => json_response(200, json!({"success": 1})),
        Err(e) => item_error(&s, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keyset pages answered from the cache are the pages the general path gives, and a
    /// change to the state is seen at once.
    #[test]
    fn keyset_pages_equal_a_full_scan_and_follow_changes() {
        let shared = Shared {
            state: Mutex::new(Tracked::new(State::new(MauticProfile::V5, false))),
            list_cache: Mutex::new(None),
            tokens: Mutex::new(Tokens::default()),
            quirks: Mutex::new(MauticQuirks::default()),
            injected: Mutex::new(None),
            control: SimControl::new(1),
            client_id: String::new(),
            client_secret: String::new(),
            basic_header: None,
            token_ttl: Duration::from_secs(1),
        };
        let t = |s: &str| query::parse_sql_time(s).unwrap();
        {
            let mut st = lock(&shared.state);
            for i in 0..40u64 {
                let day = format!("2024-05-{:02} 10:00:00", 1 + i % 20);
                if i % 7 == 3 {
                    st.user_add_anonymous(t(&day));
                } else {
                    let p = to_map(&[("email", json!(format!("p{i}@x.fr")))]);
                    st.user_add_contact(&p, t(&day));
                }
            }
        }
        let page = |q: &str| {
            let st = lock(&shared.state);
            let known = |c: &str| known_column(&st.catalog, Object::Contact, c);
            let lq = ListQuery::parse(q, &known).unwrap();
            let row = |c| ContactRow {
                contact: c,
                catalog: &st.catalog,
            };
            let mut all: Vec<u64> = st
                .contacts
                .values()
                .filter(|c| lq.selects(&row(c)))
                .map(|c| c.id)
                .collect();
            all.sort();
            let scan = (
                all.len(),
                all.iter().skip(lq.start).take(lq.limit).copied().collect(),
            );
            let selects = |lq: &ListQuery, c: &state::Contact| {
                lq.selects(&ContactRow {
                    contact: c,
                    catalog: &st.catalog,
                })
            };
            let fast = keyset_ids(
                &shared,
                st.version(),
                Object::Contact,
                &lq,
                &st.contacts,
                selects,
            )
            .expect("a keyset query");
            assert_eq!(fast, scan, "{q}");
            fast
        };
        let q = |after: u64, extra: &str| {
            format!(
                "limit=6&orderBy=id&orderByDir=asc&where[0][col]=id&where[0][expr]=gt&where[0][val]={after}{extra}"
            )
        };
        for extra in [
            "",
            "&search=!is:anonymous",
            "&search=!is:anonymous&where[1][col]=date_modified&where[1][expr]=gte&where[1][val]=2024-05-10 00:00:00",
        ] {
            for after in [0, 5, 17, 39, 40, 100] {
                page(&q(after, extra));
            }
        }
        let before = page(&q(10, "&search=!is:anonymous"));
        lock(&shared.state).user_edit_contact(
            12,
            &to_map(&[("email", json!(""))]),
            t("2024-06-01 00:00:00"),
        );
        lock(&shared.state).user_add_contact(
            &to_map(&[("email", json!("new@x.fr"))]),
            t("2024-06-01 00:00:00"),
        );
        let after = page(&q(10, "&search=!is:anonymous"));
        assert_eq!(after.0, before.0 + 1, "one more contact");
        // `id >= n` too, and other queries are left to the general path.
        page("limit=3&orderBy=id&where[0][col]=id&where[0][expr]=gte&where[0][val]=20");
        let st = lock(&shared.state);
        let known = |c: &str| known_column(&st.catalog, Object::Contact, c);
        let by_date = ListQuery::parse(
            "orderBy=date_modified&where[0][col]=id&where[0][expr]=gt&where[0][val]=3",
            &known,
        )
        .unwrap();
        let none = |_: &ListQuery, _: &state::Contact| true;
        assert!(keyset_ids(&shared, 0, Object::Contact, &by_date, &st.contacts, none).is_none());
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"api:pw"), "YXBpOnB3");
    }

    #[test]
    fn list_body_keeps_query_order_and_quirks() {
        let q = MauticQuirks::default();
        let body = list_body(
            &q,
            "contacts",
            2,
            vec![(9, json!({"id": 9})), (10, json!({"id": 10}))],
        );
        assert_eq!(
            body,
            r#"{"total":"2","contacts":{"9":{"id":9},"10":{"id":10}}}"#
        );
        assert_eq!(
            list_body(&q, "contacts", 0, vec![]),
            r#"{"total":"0","contacts":{}}"#
        );
        let q = MauticQuirks {
            total_as_string: false,
            empty_list_as_array: true,
            inflate_total: 5,
            ..MauticQuirks::default()
        };
        assert_eq!(
            list_body(&q, "contacts", 0, vec![]),
            r#"{"total":5,"contacts":[]}"#
        );
    }
}
