//! The Mautic connector: Webmecanik Automation's REST API behind the [`Connector`] trait.
//!
//! Every request goes through [`Http::send`] (retries, back-off, 429, body cap, counting).
//! Authentication is OAuth2 client credentials (a cached token, renewed shortly before it
//! expires and after a 401) or HTTP Basic. Reading pages by keyset on the id, so an edit made
//! while paging never makes a record skipped (see [`params`]); writing in batches of at most
//! 200 with one outcome per item. The quirks it copes with, and how:
//!
//! - `total` may be a string, stale or cached: paging stops on a short page, never because
//!   of `total`.
//! - `contacts` is `{}` or `[]` when empty, keyed by id otherwise; empty field groups are `[]`;
//!   numbers may come as strings: [`parse`] accepts every shape.
//! - `date_modified` is NULL on records never edited (Mautic before 2025): the modified-since
//!   condition also takes `date_modified IS NULL AND date_added >= T`
//!   ([`MauticSettings::null_date_modified_fallback`]).
//! - Anonymous visitors are excluded with `search=!is:anonymous`.
//! - Blank values are ignored unless the item says `overwriteWithBlank`: the connector adds it
//!   to an item exactly when the item holds a blank, which is then meant.
//! - A numeric 0 is dropped by Mautic on POST and PATCH (no workaround exists short of `PUT`,
//!   which clears every unsent field and is never used): the record returned with the
//!   outcome shows the value Mautic kept, for the caller to compare.
//! - Batch `contacts`/`statusCodes`/`errors` are JSON lists or objects (PHP arrays).
//! - Errors come as `{"errors":[...]}` or, on old instances, `{"error":{...}}`: both are read.
//! - A write to an unknown alias would be silently ignored by Mautic: it is refused before
//!   sending, as are writes to the read-only Do Not Contact pseudo-fields.

pub mod params;
pub mod parse;
mod slim;

use super::http::{Call, Http, Reply};
use super::{
    CallKind, Connector, ConnectorError, DncReason, ErrorKind, FieldInfo, HttpSettings, Pager,
    RecordWrite, RemoteRecord, RequestCounter, Secret, WriteOutcome,
};
use crate::model::{RecordKind, Side};
use chrono::{DateTime, Utc};
use parse::{FieldMeta, FieldTypes};
use reqwest::Method;
use serde_json::{Value as Json, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How fieldsync proves who it is to Mautic.
#[derive(Debug, Clone, PartialEq)]
pub enum MauticAuth {
    /// OAuth2 client credentials (API credentials an admin created in Mautic).
    OAuth2 {
        client_id: String,
        client_secret: Secret,
    },
    /// HTTP Basic, when the admin enabled it in Mautic's API settings.
    Basic { user: String, password: Secret },
}

/// Everything the connector needs to reach one Mautic.
#[derive(Debug, Clone, PartialEq)]
pub struct MauticSettings {
    /// `https://xxx.webmecanik.com` (no `/api`).
    pub base_url: String,
    pub auth: MauticAuth,
    pub http: HttpSettings,
    /// Records per list call (Mautic has no maximum; 200 keeps answers reasonable).
    pub page_size: usize,
    /// Items per batch write, at most 200 (Mautic's `api_batch_max_limit`).
    pub batch_size: usize,
    /// Also find records whose `date_modified` is NULL by their `date_added` (Mautic before
    /// 2025 leaves it NULL until the first edit).
    pub null_date_modified_fallback: bool,
}

impl MauticSettings {
    /// Settings with the defaults: pages and batches of 200, the NULL fallback on.
    pub fn new(base_url: impl Into<String>, auth: MauticAuth) -> Self {
        MauticSettings {
            base_url: base_url.into(),
            auth,
            http: HttpSettings::default(),
            page_size: 200,
            batch_size: MAX_BATCH,
            null_date_modified_fallback: true,
        }
    }
}

/// Mautic refuses a batch of more than 200 items (HTTP 500).
pub const MAX_BATCH: usize = 200;

/// Values asked per `in` query: short URLs.
const FIND_ANY_CHUNK: usize = 50;

/// Fields asked per page of a field list (Mautic's default is 30, and it has no maximum).
const FIELDS_PAGE: usize = 200;
/// More fields than this in one object means the list does not end (a server ignoring
/// `start`): an error, not an endless loop.
const MAX_FIELDS: usize = 10_000;

/// A Mautic client. Cheap to clone; clones share the token, the field cache and the counter.
#[derive(Debug, Clone)]
pub struct MauticClient {
    inner: Arc<Inner>,
}

/// An access token and when to renew it.
#[derive(Debug)]
struct Token {
    value: Secret,
    renew_at: Instant,
}

/// What every clone of a client and every pager shares: settings, the two HTTP clients, the
/// token and the field types.
#[derive(Debug)]
struct Inner {
    base: String,
    auth: MauticAuth,
    page_size: usize,
    batch_size: usize,
    fallback: bool,
    /// API calls.
    api: Http,
    /// Token calls: their own client, so a token fetched while API calls hold every
    /// concurrency permit cannot wait for one of them.
    auth_http: Http,
    token: tokio::sync::Mutex<Option<Token>>,
    fields: Mutex<HashMap<RecordKind, Arc<FieldTypes>>>,
    /// The `Mautic-Version` header of the last answer that had one.
    version: Mutex<Option<String>>,
}

/// The Mautic object behind a record kind.
#[derive(Debug, Clone, Copy)]
struct Object {
    kind: RecordKind,
    /// `contacts` / `companies`: the path and the list key.
    many: &'static str,
    /// `contact` / `company`: the single-record key and the fields path.
    one: &'static str,
}

fn object(kind: RecordKind, call: &str) -> Result<Object, ConnectorError> {
    match kind {
        RecordKind::MauticContact => Ok(Object {
            kind,
            many: "contacts",
            one: "contact",
        }),
        RecordKind::MauticCompany => Ok(Object {
            kind,
            many: "companies",
            one: "company",
        }),
        other => Err(ConnectorError::new(
            Side::Mautic,
            call,
            ErrorKind::Invalid(format!(
                "{other} is not a Mautic object: expected contact or company"
            )),
        )),
    }
}

fn err(call: &str, kind: ErrorKind) -> ConnectorError {
    ConnectorError::new(Side::Mautic, call, kind)
}

/// When to renew a token that lasts `expires_in`: 60 s before it expires, or a quarter of its
/// life before for short-lived tokens.
fn renew_after(expires_in: Duration) -> Duration {
    let margin = (expires_in / 4).min(Duration::from_secs(60));
    expires_in - margin
}

/// The known OAuth2 error codes, said in words. The answer itself is never quoted. Mautic
/// rewrites OAuth2 errors as `{"errors":[{"message","code","type": <the code>}]}`
/// (`ApiSubscriber::onKernelResponse`, `Oauth2Test`); a plain OAuth2 server answers
/// `{"error": <the code>}`: both are read. A disabled API answers the token endpoint too.
fn oauth_refusal(body: &[u8]) -> &'static str {
    let v = serde_json::from_slice::<Json>(body).ok();
    let code = v.as_ref().and_then(|v| {
        v.get("error")
            .and_then(Json::as_str)
            .or_else(|| {
                v.get("errors")
                    .and_then(|e| e.get(0))
                    .and_then(|e| e.get("type"))
                    .and_then(Json::as_str)
            })
            .map(str::to_owned)
    });
    match code.as_deref() {
        Some("invalid_client") => {
            "Mautic refused the client id or secret (invalid_client): check the API credentials in Mautic (Settings > API Credentials) and the secret in the environment"
        }
        Some("unauthorized_client") => {
            "Mautic does not let these API credentials use the client_credentials grant (unauthorized_client): create OAuth2 credentials as an administrator"
        }
        Some("unsupported_grant_type") | Some("invalid_request") => {
            "Mautic does not accept the client_credentials grant here: check that the API and OAuth2 are enabled in Mautic's API settings"
        }
        Some("api_disabled") => {
            "Mautic's API is disabled: enable the API in Mautic's configuration (API settings)"
        }
        _ => "Mautic refused to issue an access token: check the API credentials",
    }
}

impl MauticClient {
    pub fn new(
        settings: MauticSettings,
        counter: Arc<RequestCounter>,
    ) -> Result<Self, ConnectorError> {
        let invalid = |m: String| err("configure the Mautic connector", ErrorKind::Invalid(m));
        let base = settings.base_url.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(invalid(format!(
                "the Mautic URL '{base}' must start with https:// (or http://)"
            )));
        }
        if settings.page_size == 0 {
            return Err(invalid("page_size must be at least 1".into()));
        }
        if !(1..=MAX_BATCH).contains(&settings.batch_size) {
            return Err(invalid(format!(
                "batch_size must be between 1 and {MAX_BATCH} (Mautic refuses larger batches), not {}",
                settings.batch_size
            )));
        }
        let empty = match &settings.auth {
            MauticAuth::OAuth2 {
                client_id,
                client_secret,
            } => client_id.trim().is_empty() || client_secret.is_empty(),
            MauticAuth::Basic { user, password } => user.trim().is_empty() || password.is_empty(),
        };
        if empty {
            return Err(invalid(
                "the Mautic credentials are empty: set the client id and secret (or user and password)"
                    .into(),
            ));
        }
        let api = Http::new(Side::Mautic, settings.http.clone(), counter.clone())?;
        let auth_http = Http::new(Side::Mautic, settings.http.clone(), counter)?;
        Ok(MauticClient {
            inner: Arc::new(Inner {
                base,
                auth: settings.auth,
                page_size: settings.page_size,
                batch_size: settings.batch_size,
                fallback: settings.null_date_modified_fallback,
                api,
                auth_http,
                token: tokio::sync::Mutex::new(None),
                fields: Mutex::new(HashMap::new()),
                version: Mutex::new(None),
            }),
        })
    }

    /// The Mautic version the instance announces (`Mautic-Version`), once it answered.
    pub fn version(&self) -> Option<String> {
        self.inner
            .version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Adds an e-mail Do Not Contact entry (Mautic keeps an unsubscribe whatever is added).
    pub async fn add_dnc(&self, contact_id: &str, reason: DncReason) -> Result<(), ConnectorError> {
        let call = "add a Do Not Contact";
        let id = numeric_id(contact_id, call)?;
        let body = json!({"reason": reason as u8, "comments": ""});
        self.inner
            .call(
                Call::new(CallKind::Dnc, call).record(contact_id),
                Method::POST,
                &format!("/api/contacts/{id}/dnc/email/add"),
                &[],
                Some(&body),
            )
            .await?;
        Ok(())
    }

    /// Removes the e-mail Do Not Contact entry. Mautic removes the channel's first entry
    /// whatever its reason, an unsubscribe included (`DoNotContact::removeDncForContact`):
    /// never call it to clear a bounce. The engine never does.
    pub async fn remove_dnc(&self, contact_id: &str) -> Result<(), ConnectorError> {
        let call = "remove a Do Not Contact";
        let id = numeric_id(contact_id, call)?;
        self.inner
            .call(
                Call::new(CallKind::Dnc, call).record(contact_id),
                Method::POST,
                &format!("/api/contacts/{id}/dnc/email/remove"),
                &[],
                Some(&json!({})),
            )
            .await?;
        Ok(())
    }

    /// Links a contact to a company; Mautic makes it the primary company when the contact has
    /// none.
    pub async fn link_company(
        &self,
        company_id: &str,
        contact_id: &str,
    ) -> Result<(), ConnectorError> {
        self.company_contact(company_id, contact_id, "add").await
    }

    /// Removes a contact's link to a company (`CompanyApiController::removeContactAction`;
    /// answers `{"success": 1}`). When it was the primary one, Mautic makes another link
    /// primary.
    pub async fn unlink_company(
        &self,
        company_id: &str,
        contact_id: &str,
    ) -> Result<(), ConnectorError> {
        self.company_contact(company_id, contact_id, "remove").await
    }

    /// `POST /api/companies/{company}/contact/{contact}/{add|remove}`.
    /// `CompanyApiController::addContactAction` (and `removeContactAction`) answer
    /// `{"success": 1}` (a number); the api-library's own test only asks for a non-empty value:
    /// any truthy one will do.
    async fn company_contact(
        &self,
        company_id: &str,
        contact_id: &str,
        verb: &str,
    ) -> Result<(), ConnectorError> {
        let call = if verb == "add" {
            "link a contact to a company"
        } else {
            "unlink a contact from a company"
        };
        let company = numeric_id(company_id, call)?;
        let contact = numeric_id(contact_id, call)?;
        let reply = self
            .inner
            .call(
                Call::new(CallKind::Link, call).record(contact_id),
                Method::POST,
                &format!("/api/companies/{company}/contact/{contact}/{verb}"),
                &[],
                Some(&json!({})),
            )
            .await?;
        let ok = reply
            .json::<Json>()
            .ok()
            .is_some_and(|v| parse::php_truthy(v.get("success")));
        if ok {
            Ok(())
        } else {
            Err(err(
                call,
                ErrorKind::Rejected {
                    status: reply.status,
                    message: format!("Mautic did not confirm: {call} ({company})"),
                },
            )
            .with_record(contact_id))
        }
    }

    /// The records whose `field` holds any of `values` (compared as Mautic compares them:
    /// case-insensitively), a page of values per call (`where ... in`).
    pub async fn find_any(
        &self,
        kind: RecordKind,
        field: &str,
        values: &[String],
    ) -> Result<Vec<RemoteRecord>, ConnectorError> {
        let call = match kind {
            RecordKind::MauticCompany => "find companies",
            _ => "find contacts",
        };
        let obj = object(kind, call)?;
        let types = self.inner.field_types(obj).await?;
        if params::is_pseudo_field(field) || !types.contains_key(field) {
            return Err(err(
                call,
                ErrorKind::Invalid(format!(
                    "Mautic {} has no searchable field '{field}'",
                    obj.many
                )),
            ));
        }
        let mut found = Vec::new();
        for chunk in values.chunks(FIND_ANY_CHUNK) {
            let mut after = 0;
            loop {
                let query = params::find_any_query(field, chunk, after, self.inner.page_size);
                let (page, _) = self
                    .inner
                    .page(obj, Call::new(CallKind::Find, call), &query)
                    .await?;
                let last = self.inner.is_last(&page);
                if page.rows > 0 {
                    after = next_after(&page, after, call)?;
                }
                found.extend(page.records);
                if last {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// A contact's companies: (company id, primary).
    pub async fn contact_companies(
        &self,
        contact_id: &str,
    ) -> Result<Vec<(String, bool)>, ConnectorError> {
        let call = "read a contact's companies";
        let id = numeric_id(contact_id, call)?;
        let reply = self
            .inner
            .call(
                Call::new(CallKind::Get, call).record(contact_id),
                Method::GET,
                &format!("/api/contacts/{id}/companies"),
                &[],
                None,
            )
            .await?;
        let v: Json = reply
            .json()
            .map_err(|k| err(call, k).with_record(contact_id))?;
        let rows = parse::items(v.get("companies").unwrap_or(&Json::Null));
        Ok(rows
            .into_values()
            .filter_map(|r| {
                let company = r.get("company_id").and_then(parse::loose_u64)?;
                let primary = match r.get("is_primary") {
                    Some(Json::Bool(b)) => *b,
                    Some(p) => parse::loose_u64(p) == Some(1),
                    None => false,
                };
                Some((company.to_string(), primary))
            })
            .collect())
    }

    /// How many anonymous visitors changed since `since` (all of them when `None`): one call
    /// asking for a single record and reading the answer's `total`. The pager never lists them
    /// (`!is:anonymous`), so this is how the cycle reports what it skipped. Mautic caches
    /// `total` for a few seconds: the count is an indication, not an audit figure.
    pub async fn count_anonymous(
        &self,
        since: Option<DateTime<Utc>>,
    ) -> Result<u64, ConnectorError> {
        let obj = object(RecordKind::MauticContact, "count anonymous visitors")?;
        let mut query = params::list_query(0, since, self.inner.fallback, 1, false);
        query.push(("search".into(), "is:anonymous".into()));
        let (page, _) = self
            .inner
            .page(
                obj,
                Call::new(CallKind::Count, "count anonymous visitors"),
                &query,
            )
            .await?;
        Ok(page.total.unwrap_or(page.rows as u64))
    }

    /// Authenticates and reads one contact: what `fieldsync check` needs to know works.
    pub async fn check_auth(&self) -> Result<(), ConnectorError> {
        let query = vec![
            ("limit".to_owned(), "1".to_owned()),
            ("orderBy".to_owned(), "id".to_owned()),
        ];
        self.inner
            .call(
                Call::new(CallKind::List, "check the connection"),
                Method::GET,
                "/api/contacts",
                &query,
                None,
            )
            .await?;
        Ok(())
    }

    /// Writes records in batches. An item the form refused for some of its fields only (a
    /// value too long for the field, an option it does not have: `details` names them) is
    /// sent once more without them, so one bad value never blocks the rest of a record; its
    /// outcome then lists what was refused. A refused unique identifier (the e-mail, a
    /// company's name) is never left out: without it the record would be another one.
    async fn write(
        &self,
        kind: RecordKind,
        items: Vec<RecordWrite>,
        insert: bool,
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        let (mut outcomes, field_errors) = self.write_pass(kind, &items, insert).await?;
        let Ok(obj) = object(kind, "write") else {
            return Ok(outcomes);
        };
        let types = self.inner.field_types(obj).await?;
        let mut again = Vec::new();
        for (i, errors) in field_errors.into_iter().enumerate() {
            if errors.is_empty() || !matches!(outcomes[i], WriteOutcome::Rejected(_)) {
                continue;
            }
            let item = &items[i];
            let named = |code: &str| errors.iter().any(|(a, _)| a == code);
            let all_known = errors
                .iter()
                .all(|(a, _)| item.fields.iter().any(|(c, _)| c == a));
            let identity = errors
                .iter()
                .any(|(a, _)| types.get(a).is_some_and(|m| m.unique));
            let rest: Vec<(String, crate::model::Value)> = item
                .fields
                .iter()
                .filter(|(c, _)| !named(c))
                .cloned()
                .collect();
            if all_known && !identity && !rest.is_empty() {
                again.push((
                    i,
                    errors,
                    RecordWrite {
                        id: item.id.clone(),
                        fields: rest,
                    },
                ));
            }
        }
        if again.is_empty() {
            return Ok(outcomes);
        }
        let retry: Vec<RecordWrite> = again.iter().map(|(_, _, w)| w.clone()).collect();
        let (second, _) = self.write_pass(kind, &retry, insert).await?;
        for ((i, errors, _), outcome) in again.into_iter().zip(second) {
            outcomes[i] = match outcome {
                WriteOutcome::Done { id, record, .. } => WriteOutcome::Done {
                    id,
                    record,
                    refused: errors,
                },
                other => other,
            };
        }
        Ok(outcomes)
    }

    /// One pass of [`MauticClient::write`]: the outcomes, and each item's field errors.
    #[allow(clippy::type_complexity)]
    async fn write_pass(
        &self,
        kind: RecordKind,
        items: &[RecordWrite],
        insert: bool,
    ) -> Result<(Vec<WriteOutcome>, Vec<Vec<(String, String)>>), ConnectorError> {
        let call = match (kind, insert) {
            (RecordKind::MauticCompany, true) => "insert companies",
            (RecordKind::MauticCompany, false) => "update companies",
            (_, true) => "insert contacts",
            (_, false) => "update contacts",
        };
        let obj = object(kind, call)?;
        if items.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let types = self.inner.field_types(obj).await?;
        let mut field_errors: Vec<Vec<(String, String)>> = vec![Vec::new(); items.len()];
        let label = |i: usize, w: &RecordWrite| match (&w.id, insert) {
            (Some(id), false) => id.clone(),
            _ => format!("new #{i}"),
        };
        let mut outcomes: Vec<Option<WriteOutcome>> = vec![None; items.len()];
        let mut ready = Vec::new();
        for (i, w) in items.iter().enumerate() {
            let id = if insert {
                Ok(None)
            } else {
                match &w.id {
                    Some(id) => numeric_id(id, call).map(Some),
                    None => Err(err(
                        call,
                        ErrorKind::Invalid("an update needs the record's id".into()),
                    )),
                }
            };
            let item = id.and_then(|id| {
                params::write_item(&types, &w.fields, id)
                    .map_err(|m| err(call, ErrorKind::Invalid(m)))
            });
            match item {
                Ok(item) => ready.push((i, Json::Object(item))),
                Err(e) => outcomes[i] = Some(WriteOutcome::Rejected(e.with_record(label(i, w)))),
            }
        }
        let (method, path, call_kind) = if insert {
            (
                Method::POST,
                format!("/api/{}/batch/new", obj.many),
                CallKind::BatchInsert,
            )
        } else {
            (
                Method::PATCH,
                format!("/api/{}/batch/edit", obj.many),
                CallKind::BatchUpdate,
            )
        };
        // Mautic 5's `companies/batch/new` creates a company for every item, always
        // (`CommonApiController::newEntitiesAction`; only the single `new` is overridden to
        // match): a copy sent after a lost answer would create each company again. It is
        // never sent twice blind; the caller looks the companies up first. A contact batch
        // is matched by e-mail (`LeadApiController` finds the contact by its unique
        // identifiers), so sending it again updates the same contacts.
        let replay = if insert && kind == RecordKind::MauticCompany {
            Call::new(call_kind, call).check_first()
        } else {
            Call::new(call_kind, call)
        };
        let mut answered = false;
        for chunk in ready.chunks_mut(self.inner.batch_size) {
            let body = Json::Array(chunk.iter_mut().map(|(_, item)| item.take()).collect());
            let reply = self
                .inner
                .call(replay, method.clone(), &path, &[], Some(&body))
                .await;
            let reply = match reply {
                Ok(r) => {
                    answered = true;
                    r
                }
                // Without credentials or rights nothing can be attempted: say so, unless
                // earlier chunks were answered and their outcomes must be returned.
                Err(e) if matches!(e.kind, ErrorKind::Auth { .. }) && !answered => return Err(e),
                Err(e) => {
                    let retry_later = e.is_transient() || matches!(e.kind, ErrorKind::Auth { .. });
                    // A 404 on the batch call means no such endpoint, not that the records
                    // are gone.
                    let e = match e.kind {
                        ErrorKind::NotFound => err(
                            call,
                            ErrorKind::Rejected {
                                status: 404,
                                message: format!("no {path} endpoint: check the Mautic URL"),
                            },
                        ),
                        _ => e,
                    };
                    for (i, _) in chunk.iter() {
                        let e = e.clone().with_record(label(*i, &items[*i]));
                        outcomes[*i] = Some(if retry_later {
                            WriteOutcome::Failed(e)
                        } else {
                            WriteOutcome::Rejected(e)
                        });
                    }
                    continue;
                }
            };
            let answer = parse::batch(&reply.body, obj.many);
            for (n, (i, _)) in chunk.iter().enumerate() {
                let record = label(*i, &items[*i]);
                let outcome = match &answer {
                    Err(m) => WriteOutcome::Failed(
                        err(call, ErrorKind::Decode(m.clone())).with_record(record),
                    ),
                    Ok(a) => {
                        if let Some(f) = a.fields.get(&(n as u64)) {
                            field_errors[*i] = f.clone();
                        }
                        item_outcome(obj, call, a, n as u64, &types, record)
                    }
                };
                outcomes[*i] = Some(outcome);
            }
        }
        let outcomes = outcomes
            .into_iter()
            .map(|o| o.expect("every item has an outcome"))
            .collect();
        Ok((outcomes, field_errors))
    }
}

/// One item of a batch answer as an outcome: 2xx done, 404 gone, other 4xx refused, 5xx (or
/// no status) failed.
fn item_outcome(
    obj: Object,
    call: &str,
    answer: &parse::BatchAnswer,
    n: u64,
    types: &FieldTypes,
    record: String,
) -> WriteOutcome {
    let e = |kind| err(call, kind).with_record(record.clone());
    let message = || {
        answer
            .errors
            .get(&n)
            .cloned()
            .unwrap_or_else(|| "no message".into())
    };
    match answer.codes.get(&n).copied() {
        Some(200..=299) => match answer.records.get(&n) {
            Some(r) => match parse::record(obj.kind, r, types) {
                Ok(parsed) => WriteOutcome::Done {
                    id: parsed.id.clone(),
                    record: Some(parsed),
                    refused: Vec::new(),
                },
                Err(m) => WriteOutcome::Failed(e(ErrorKind::Decode(m))),
            },
            None => WriteOutcome::Failed(e(ErrorKind::Decode(
                "the item succeeded but Mautic returned no record".into(),
            ))),
        },
        Some(404) => WriteOutcome::Rejected(e(ErrorKind::NotFound)),
        Some(status @ 400..=499) => WriteOutcome::Rejected(e(ErrorKind::Rejected {
            status,
            message: message(),
        })),
        Some(status) => WriteOutcome::Failed(e(ErrorKind::Server {
            status,
            message: message(),
        })),
        None => WriteOutcome::Failed(e(ErrorKind::Decode(
            "Mautic gave no status code for this item".into(),
        ))),
    }
}

fn numeric_id(id: &str, call: &str) -> Result<u64, ConnectorError> {
    id.trim().parse().map_err(|_| {
        err(
            call,
            ErrorKind::Invalid(format!("'{id}' is not a Mautic id (a number)")),
        )
        .with_record(id)
    })
}

impl Inner {
    /// Sends one API call and interprets what [`Http::send`] hands back: any 2xx is returned,
    /// a 4xx becomes the matching error.
    async fn call(
        &self,
        call: Call<'_>,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Json>,
    ) -> Result<Reply, ConnectorError> {
        let url = format!("{}{}", self.base, path);
        let used: Mutex<Option<String>> = Mutex::new(None);
        let (url, used) = (&url, &used);
        let reply = self
            .api
            .send(call, move |fresh| {
                let method = method.clone();
                async move {
                    let mut rb = self.api.client().request(method, url);
                    if !query.is_empty() {
                        rb = rb.query(query);
                    }
                    if let Some(b) = body {
                        rb = rb.json(b);
                    }
                    self.authorize(rb, fresh, used).await
                }
            })
            .await?;
        if let Some(v) = reply
            .headers
            .get("mautic-version")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= 64)
        {
            let mut known = self.version.lock().unwrap_or_else(|p| p.into_inner());
            if known.as_deref() != Some(v) {
                *known = Some(v.to_owned());
            }
        }
        if reply.is_success() {
            return Ok(reply);
        }
        let kind = match reply.status {
            401 => ErrorKind::Auth {
                status: 401,
                message: match self.auth {
                    MauticAuth::Basic { .. } => "Mautic refused the user name or password (HTTP Basic): check them, and that Basic auth is enabled in Mautic's API settings".into(),
                    MauticAuth::OAuth2 { .. } => "Mautic refused the access token even after a fresh one was fetched: check that the API credentials still exist".into(),
                },
            },
            403 => ErrorKind::Auth {
                status: 403,
                message: "Mautic refused access: enable the API in Mautic's configuration (API settings) and check that the API user's role may view and edit contacts and companies".into(),
            },
            404 => ErrorKind::NotFound,
            status => ErrorKind::Rejected {
                status,
                message: parse::error_message(&reply.body).unwrap_or_else(|| reply.snippet()),
            },
        };
        Err(self.api.error(&call, kind))
    }

    /// Adds the credentials to a request. `fresh`: the last request's token was refused, get
    /// another one (unless another call already did).
    async fn authorize(
        &self,
        rb: reqwest::RequestBuilder,
        fresh: bool,
        used: &Mutex<Option<String>>,
    ) -> Result<reqwest::RequestBuilder, ConnectorError> {
        match &self.auth {
            MauticAuth::Basic { user, password } => {
                Ok(rb.basic_auth(user, Some(password.expose())))
            }
            MauticAuth::OAuth2 { .. } => {
                let stale = if fresh {
                    used.lock().unwrap_or_else(|p| p.into_inner()).clone()
                } else {
                    None
                };
                let token = self.token(stale.as_deref()).await?;
                *used.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.expose().to_owned());
                Ok(rb.bearer_auth(token.expose()))
            }
        }
    }

    /// The cached token, or a new one when there is none, when it is due for renewal, or when
    /// it is `stale` (refused by Mautic).
    async fn token(&self, stale: Option<&str>) -> Result<Secret, ConnectorError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            let refused = stale == Some(t.value.expose());
            if !refused && Instant::now() < t.renew_at {
                return Ok(t.value.clone());
            }
        }
        let token = self.fetch_token().await?;
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    async fn fetch_token(&self) -> Result<Token, ConnectorError> {
        let MauticAuth::OAuth2 {
            client_id,
            client_secret,
        } = &self.auth
        else {
            unreachable!("tokens are only fetched for OAuth2");
        };
        let call = Call::new(CallKind::Auth, "get an OAuth2 token");
        let url = format!("{}/oauth/v2/token", self.base);
        let url = &url;
        let reply = self
            .auth_http
            .send(call, move |_| async move {
                Ok(self.auth_http.client().post(url).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("client_secret", client_secret.expose()),
                ]))
            })
            .await?;
        let fail = |kind| Err(self.auth_http.error(&call, kind));
        if reply.status == 404 {
            return fail(ErrorKind::Auth {
                status: 404,
                message: format!(
                    "no OAuth2 token endpoint at {url}: check the Mautic URL in the config"
                ),
            });
        }
        if !reply.is_success() {
            return fail(ErrorKind::Auth {
                status: reply.status,
                message: oauth_refusal(&reply.body).to_owned(),
            });
        }
        let (value, expires_in) = match parse::token(&reply.body) {
            Ok(t) => t,
            Err(kind) => return fail(kind),
        };
        Ok(Token {
            value,
            renew_at: Instant::now() + renew_after(expires_in),
        })
    }

    /// The fields of an object, every page of them: Mautic pages its field lists like any
    /// other list (30 a page unless told otherwise), core fields first and custom ones last.
    /// The cache is refreshed.
    async fn read_fields(&self, obj: Object) -> Result<Vec<FieldInfo>, ConnectorError> {
        let call_name = format!("list {} fields", obj.one);
        let mut fields: Vec<FieldInfo> = Vec::new();
        loop {
            let query = vec![
                ("start".to_owned(), fields.len().to_string()),
                ("limit".to_owned(), FIELDS_PAGE.to_string()),
            ];
            let reply = self
                .call(
                    Call::new(CallKind::Fields, &call_name),
                    Method::GET,
                    &format!("/api/fields/{}", obj.one),
                    &query,
                    None,
                )
                .await?;
            let page = parse::fields(&reply.body, obj.kind)
                .map_err(|m| err(&call_name, ErrorKind::Decode(m)))?;
            let rows = page.rows;
            for f in page.fields {
                if !fields.iter().any(|x| x.code == f.code) {
                    fields.push(f);
                }
            }
            // Done on an empty page, or a short one unless `total` says there is more (a
            // server that caps `limit` lower than asked).
            let seen = fields.len() as u64;
            if rows == 0 || (rows < FIELDS_PAGE && page.total.is_none_or(|t| t <= seen)) {
                break;
            }
            if fields.len() > MAX_FIELDS {
                return Err(err(
                    &call_name,
                    ErrorKind::Decode(format!(
                        "Mautic listed more than {MAX_FIELDS} {} fields: the list does not end",
                        obj.one
                    )),
                ));
            }
        }
        let types: FieldTypes = fields
            .iter()
            .map(|f| {
                (
                    f.code.clone(),
                    FieldMeta {
                        field_type: f.field_type,
                        raw_type: f.raw_type.clone(),
                        unique: f.unique,
                    },
                )
            })
            .collect();
        self.fields
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(obj.kind, Arc::new(types));
        if obj.kind == RecordKind::MauticContact {
            fields.extend(parse::dnc_pseudo_fields());
        }
        Ok(fields)
    }

    /// The cached field types, read once when missing.
    async fn field_types(&self, obj: Object) -> Result<Arc<FieldTypes>, ConnectorError> {
        let cached = self
            .fields
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&obj.kind)
            .cloned();
        if let Some(t) = cached {
            return Ok(t);
        }
        self.read_fields(obj).await?;
        Ok(self
            .fields
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&obj.kind)
            .cloned()
            .unwrap_or_default())
    }

    /// One page of a keyset query, ordered by id.
    async fn page(
        &self,
        obj: Object,
        call: Call<'_>,
        query: &[(String, String)],
    ) -> Result<(parse::Page, Reply), ConnectorError> {
        let types = self.field_types(obj).await?;
        let reply = self
            .call(
                call,
                Method::GET,
                &format!("/api/{}", obj.many),
                query,
                None,
            )
            .await?;
        let page = parse::page(&reply.body, obj.many, obj.kind, &types)
            .map_err(|m| self.api.error(&call, ErrorKind::Decode(m)))?;
        Ok((page, reply))
    }

    /// Whether a keyset page is the last one: a short page is, unless `total` says the server
    /// cut the page below the limit asked (a stale `total` costs one empty call, never a
    /// missed record).
    fn is_last(&self, page: &parse::Page) -> bool {
        let n = page.rows;
        n == 0 || (n < self.page_size && page.total.is_none_or(|t| t <= n as u64))
    }
}

/// The id to page after: the largest of the page. A page that does not move forward would
/// loop forever: the server ignored the id condition.
fn next_after(page: &parse::Page, after: u64, call: &str) -> Result<u64, ConnectorError> {
    let max = page.max_id.unwrap_or(after);
    if max <= after {
        return Err(err(
            call,
            ErrorKind::Decode(format!(
                "Mautic returned records at or below id {after} for 'id > {after}': the id condition was ignored"
            )),
        ));
    }
    Ok(max)
}

impl Connector for MauticClient {
    type Pager = MauticPager;

    fn side(&self) -> Side {
        Side::Mautic
    }

    async fn fields(&self, kind: RecordKind) -> Result<Vec<FieldInfo>, ConnectorError> {
        let obj = object(kind, "list fields")?;
        self.inner.read_fields(obj).await
    }

    fn changed_since(&self, kind: RecordKind, since: Option<DateTime<Utc>>) -> MauticPager {
        MauticPager {
            inner: self.inner.clone(),
            kind,
            since,
            after: 0,
            done: false,
            server_time: None,
            total: None,
        }
    }

    async fn find_by(
        &self,
        kind: RecordKind,
        field: &str,
        value: &str,
    ) -> Result<Vec<RemoteRecord>, ConnectorError> {
        let call = match kind {
            RecordKind::MauticCompany => "find companies",
            _ => "find contacts",
        };
        let obj = object(kind, call)?;
        let types = self.inner.field_types(obj).await?;
        if params::is_pseudo_field(field) || (field != "id" && !types.contains_key(field)) {
            return Err(err(
                call,
                ErrorKind::Invalid(format!(
                    "Mautic {} has no searchable field '{field}'",
                    obj.many
                )),
            ));
        }
        let mut found = Vec::new();
        let mut after = 0;
        loop {
            let query = params::find_query(field, value.trim(), after, self.inner.page_size);
            let (page, _) = self
                .inner
                .page(obj, Call::new(CallKind::Find, call), &query)
                .await?;
            let last = self.inner.is_last(&page);
            if page.rows > 0 {
                after = next_after(&page, after, call)?;
            }
            found.extend(page.records);
            if last {
                return Ok(found);
            }
        }
    }

    async fn get(
        &self,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<RemoteRecord>, ConnectorError> {
        let call = match kind {
            RecordKind::MauticCompany => "get a company",
            _ => "get a contact",
        };
        let obj = object(kind, call)?;
        let n = numeric_id(id, call)?;
        let types = self.inner.field_types(obj).await?;
        let result = self
            .inner
            .call(
                Call::new(CallKind::Get, call).record(id),
                Method::GET,
                &format!("/api/{}/{n}", obj.many),
                &[],
                None,
            )
            .await;
        let reply = match result {
            Ok(r) => r,
            Err(e) if e.kind == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let decode = |m: String| err(call, ErrorKind::Decode(m)).with_record(id);
        let v: Json = super::http::json(&reply.body).map_err(|e| decode(e.to_string()))?;
        let r = v
            .get(obj.one)
            .ok_or_else(|| decode(format!("the answer has no '{}'", obj.one)))?;
        parse::record(kind, r, &types).map(Some).map_err(decode)
    }

    async fn insert(
        &self,
        kind: RecordKind,
        items: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.write(kind, items, true).await
    }

    async fn update(
        &self,
        kind: RecordKind,
        items: Vec<RecordWrite>,
    ) -> Result<Vec<WriteOutcome>, ConnectorError> {
        self.write(kind, items, false).await
    }

    fn counter(&self) -> &RequestCounter {
        self.inner.api.counter()
    }
}

/// Pages through the contacts or companies changed since a time, by id: `id > last` ordered
/// by id, so no edit made while paging can move a record past the pager. A record edited after
/// the pager passed it is not seen again in this pull; its new `date_modified` is after
/// [`Pager::server_time`], so the next pull finds it.
///
/// Reading N records takes ceil(N / page_size) calls, plus one empty call when N is a
/// multiple of the page size (a full page cannot tell it is the last).
#[derive(Debug)]
pub struct MauticPager {
    inner: Arc<Inner>,
    kind: RecordKind,
    since: Option<DateTime<Utc>>,
    /// The largest id seen so far.
    after: u64,
    done: bool,
    server_time: Option<DateTime<Utc>>,
    /// The first page's `total`: what the listing holds.
    total: Option<u64>,
}

impl Pager for MauticPager {
    async fn next_page(&mut self) -> Result<Option<Vec<RemoteRecord>>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let call = match self.kind {
            RecordKind::MauticCompany => "list companies",
            _ => "list contacts",
        };
        let obj = object(self.kind, call)?;
        let query = params::list_query(
            self.after,
            self.since,
            self.inner.fallback,
            self.inner.page_size,
            obj.kind == RecordKind::MauticContact,
        );
        let (page, reply) = self
            .inner
            .page(obj, Call::new(CallKind::List, call), &query)
            .await?;
        if self.server_time.is_none() {
            self.server_time = reply.server_date();
        }
        if self.total.is_none() {
            self.total = page.total;
        }
        self.done = self.inner.is_last(&page);
        if page.rows == 0 {
            return Ok(None);
        }
        self.after = next_after(&page, self.after, call)?;
        Ok(Some(page.records))
    }

    fn server_time(&self) -> Option<DateTime<Utc>> {
        self.server_time
    }

    fn total(&self) -> Option<u64> {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        assert_eq!(
            renew_after(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(
            renew_after(Duration::from_secs(40)),
            Duration::from_secs(30)
        );
        assert_eq!(renew_after(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn oauth_refusals_are_said_in_words_never_quoted() {
        let m = oauth_refusal(br#"{"error":"invalid_client","error_description":"secret-xyz"}"#);
        assert!(m.contains("invalid_client") && !m.contains("secret-xyz"));
        assert!(oauth_refusal(b"<html>").contains("refused"));
        let rewritten = br#"{"errors":[{"message":"The client credentials are invalid","code":400,"type":"invalid_client"}]}"#;
        assert!(oauth_refusal(rewritten).contains("invalid_client"));
        let off = br#"{"errors":[{"message":"API disabled.","code":403,"type":"api_disabled"}]}"#;
        assert!(oauth_refusal(off).contains("enable the API"));
    }

    #[test]
    fn settings_are_checked() {
        let auth = MauticAuth::OAuth2 {
            client_id: "id".into(),
            client_secret: Secret::new("s"),
        };
        let ok = MauticSettings::new("https://m.example.com/", auth.clone());
        assert!(MauticClient::new(ok.clone(), RequestCounter::new()).is_ok());
        let bad_url = MauticSettings::new("m.example.com", auth.clone());
        assert!(MauticClient::new(bad_url, RequestCounter::new()).is_err());
        let big = MauticSettings {
            batch_size: 201,
            ..ok.clone()
        };
        assert!(MauticClient::new(big, RequestCounter::new()).is_err());
        let empty = MauticSettings::new(
            "https://m.example.com",
            MauticAuth::Basic {
                user: "u".into(),
                password: Secret::new(""),
            },
        );
        assert!(MauticClient::new(empty, RequestCounter::new()).is_err());
    }

    #[test]
    fn a_short_page_ends_unless_total_says_it_was_cut() {
        let client = MauticClient::new(
            MauticSettings::new(
                "https://m.example.com",
                MauticAuth::Basic {
                    user: "u".into(),
                    password: Secret::new("p"),
                },
            ),
            RequestCounter::new(),
        )
        .unwrap();
        let record = |id: u64| RemoteRecord {
            kind: RecordKind::MauticContact,
            id: id.to_string(),
            modified_at: Utc::now(),
            fields: Default::default(),
            anonymous: false,
        };
        let page = |n: u64, total: Option<u64>| parse::Page {
            total,
            records: (1..=n).map(record).collect(),
            rows: n as usize,
            max_id: (n > 0).then_some(n),
        };
        let inner = &client.inner;
        assert!(inner.is_last(&page(0, Some(1000))));
        assert!(inner.is_last(&page(10, Some(10))));
        assert!(inner.is_last(&page(10, None)));
        assert!(
            !inner.is_last(&page(10, Some(500))),
            "the server capped the page"
        );
        assert!(
            !inner.is_last(&page(200, Some(200))),
            "a full page may not be the last"
        );
        assert!(next_after(&page(3, None), 0, "x").unwrap() == 3);
        assert!(next_after(&page(3, None), 3, "x").is_err());
    }
}
