//! The HTTP layer both connectors share: timeouts, retries with exponential back-off and
//! jitter, `429` handling (`Retry-After`, `X-RateLimit-Reset`), one fresh-token retry on `401`,
//! a cap on answer sizes, bounded concurrency per side, and the request counter that `status`
//! and the benches read.
//!
//! What is retried: timeouts, connection failures, cut-off answers, `5xx` and `429`. What is
//! not: any other `4xx`, which is handed back to the side's code to interpret (a `404` on a
//! read is "gone", a `403` on weavy is a missing right, a `400` is a rejection of that record).
//!
//! Secrets never reach an error message: request bodies are never quoted, and answers to
//! authentication calls are never quoted either.

use super::{ConnectorError, ErrorKind};
use crate::model::Side;
use rand::RngExt;
use reqwest::header::HeaderMap;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Tunables of the HTTP layer, per side.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Whole-request timeout.
    #[serde(with = "humantime_secs")]
    pub timeout: Duration,
    #[serde(with = "humantime_secs")]
    pub connect_timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First back-off delay; doubled at each retry, with jitter.
    #[serde(with = "humantime_secs")]
    pub base_backoff: Duration,
    #[serde(with = "humantime_secs")]
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this fails the call instead of waiting.
    #[serde(with = "humantime_secs")]
    pub max_retry_wait: Duration,
    /// Answers larger than this are refused (a server that answers forever).
    pub max_body_bytes: usize,
    /// Requests in flight at once to this side.
    pub concurrency: usize,
    /// Try again a call whose connection could not be made (refused, no such host). A cycle
    /// does (a server restarting comes back); `fieldsync check` does not: it reports at once.
    /// Not a setting of the file.
    #[serde(skip)]
    pub retry_unreachable: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 6,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            max_retry_wait: Duration::from_secs(300),
            max_body_bytes: 64 * 1024 * 1024,
            concurrency: 4,
            retry_unreachable: true,
        }
    }
}

impl HttpSettings {
    /// Settings for tests and benches against the simulators: short waits, same logic.
    pub fn fast() -> Self {
        HttpSettings {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_attempts: 8,
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(20),
            max_retry_wait: Duration::from_secs(5),
            ..HttpSettings::default()
        }
    }
}

/// Durations in the config as seconds (`timeout = 60`, `base_backoff = 0.25`) or as text
/// like every other duration of the file (`timeout = "1m"`, `base_backoff = "250ms"`).
mod humantime_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(f64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let d = match Raw::deserialize(d)? {
            Raw::Secs(secs) if (0.0..=86_400.0).contains(&secs) => Duration::from_secs_f64(secs),
            Raw::Secs(_) => {
                return Err(serde::de::Error::custom(
                    "a duration between 0 and 86400 seconds",
                ));
            }
            Raw::Text(t) => {
                let d = crate::duration_text::parse(&t).map_err(serde::de::Error::custom)?;
                if d > Duration::from_secs(86_400) {
                    return Err(serde::de::Error::custom(
                        "a duration between 0 and 86400 seconds (1d)",
                    ));
                }
                d
            }
        };
        Ok(d)
    }
}

/// The kinds of call, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// Getting a token (OAuth2, weavy Authenticate).
    Auth,
    /// Field lists and dictionaries.
    Fields,
    /// A page of a list or Select.
    List,
    /// One record by id.
    Get,
    /// A search by field value.
    Find,
    /// A count (a list call asking only for its total).
    Count,
    /// One insert (weavy, Mautic single new).
    Insert,
    /// One update (weavy PUT, Mautic single PATCH).
    Update,
    /// A Mautic batch of new records.
    BatchInsert,
    /// A Mautic batch edit.
    BatchUpdate,
    /// A Do Not Contact change.
    Dnc,
    /// Linking a contact to a company.
    Link,
}

impl CallKind {
    pub const ALL: [CallKind; 12] = [
        CallKind::Auth,
        CallKind::Fields,
        CallKind::List,
        CallKind::Get,
        CallKind::Find,
        CallKind::Count,
        CallKind::Insert,
        CallKind::Update,
        CallKind::BatchInsert,
        CallKind::BatchUpdate,
        CallKind::Dnc,
        CallKind::Link,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::Auth => "auth",
            CallKind::Fields => "fields",
            CallKind::List => "list",
            CallKind::Get => "get",
            CallKind::Find => "find",
            CallKind::Count => "count",
            CallKind::Insert => "insert",
            CallKind::Update => "update",
            CallKind::BatchInsert => "batch_insert",
            CallKind::BatchUpdate => "batch_update",
            CallKind::Dnc => "dnc",
            CallKind::Link => "link",
        }
    }

    /// Calls that change data on the side.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            CallKind::Insert
                | CallKind::Update
                | CallKind::BatchInsert
                | CallKind::BatchUpdate
                | CallKind::Dnc
                | CallKind::Link
        )
    }
}

/// Counts for one (side, kind of call).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Of which retries (after a timeout, 5xx, 429, cut-off answer or expired token).
    pub retries: u64,
    /// Calls that failed after their last attempt.
    pub failures: u64,
    /// 429 answers received.
    pub rate_limited: u64,
}

/// Requests sent, by side and kind of call. Shared by a side's client and whoever reports.
#[derive(Debug, Default)]
pub struct RequestCounter {
    inner: Mutex<BTreeMap<(Side, CallKind), RequestStats>>,
}

impl RequestCounter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn bump(&self, side: Side, kind: CallKind, f: impl FnOnce(&mut RequestStats)) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry((side, kind)).or_default());
    }

    pub fn get(&self, side: Side, kind: CallKind) -> RequestStats {
        let map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&(side, kind)).copied().unwrap_or_default()
    }

    /// Every (side, kind) with its counts.
    pub fn snapshot(&self) -> BTreeMap<(Side, CallKind), RequestStats> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Requests of one side, all kinds.
    pub fn total(&self, side: Side) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((s, _), _)| *s == side)
            .map(|(_, st)| st.requests)
            .sum()
    }

    /// Write requests of one side.
    pub fn writes(&self, side: Side) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((s, k), _)| *s == side && k.is_write())
            .map(|(_, st)| st.requests)
            .sum()
    }

    pub fn reset(&self) {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// Whether a call may be sent again when its answer is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Sending it twice does what sending it once does (a read, an update of given values, a
    /// batch/new that Mautic matches by e-mail): any transient failure is retried.
    Safe,
    /// A second copy could create something twice (Mautic 5's `companies/batch/new` creates a
    /// company per item, always). Once the request may have reached the side (a timeout, a
    /// broken answer, a 5xx), it is not sent again: the caller is told the outcome is unknown
    /// ([`ErrorKind::OutcomeUnknown`]) and finds out what landed first. A refused connection
    /// or a 429 is retried as usual: nothing was done.
    CheckFirst,
}

/// A call as the error messages and the counter name it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub kind: CallKind,
    /// What is being done, e.g. "list contacts", "update customercontact".
    pub name: &'a str,
    /// The record concerned, if any.
    pub record: Option<&'a str>,
    pub replay: Replay,
}

impl<'a> Call<'a> {
    pub fn new(kind: CallKind, name: &'a str) -> Self {
        Call {
            kind,
            name,
            record: None,
            replay: Replay::Safe,
        }
    }

    pub fn record(mut self, record: &'a str) -> Self {
        self.record = Some(record);
        self
    }

    /// Never sent twice blind (see [`Replay::CheckFirst`]).
    pub fn check_first(mut self) -> Self {
        self.replay = Replay::CheckFirst;
        self
    }
}

/// An answer that was not retried: any 2xx, or a 4xx for the side's code to interpret.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Parses the body as JSON (see [`json`]).
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ErrorKind> {
        json(&self.body).map_err(|e| ErrorKind::Decode(format!("{e}")))
    }

    /// The server's clock, from the HTTP `Date` header.
    pub fn server_date(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let v = self.headers.get(reqwest::header::DATE)?.to_str().ok()?;
        chrono::DateTime::parse_from_rfc2822(v.trim())
            .ok()
            .map(|d| d.with_timezone(&chrono::Utc))
    }

    /// The start of the body, for error messages (never used on authentication calls).
    pub fn snippet(&self) -> String {
        snippet(&self.body)
    }
}

/// Parses an answer as JSON. Bytes that are not UTF-8 do not fail the whole answer: they are
/// read as U+FFFD, which [`crate::model::Value::coerce_within`] refuses, so only the values
/// that hold them are reported, on their records. Nesting deeper than serde_json's limit
/// (128) is an error (or, under a key the caller ignores, skipped), never a stack overflow.
pub fn json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_str(&String::from_utf8_lossy(body)),
    }
}

/// The first 200 characters of a body, control characters removed.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control() || *c == ' ')
        .take(200)
        .collect();
    if text.chars().count() > 200 {
        format!("{clean}...")
    } else {
        clean
    }
}

/// One side's HTTP client.
#[derive(Debug)]
pub struct Http {
    client: reqwest::Client,
    side: Side,
    settings: HttpSettings,
    counter: Arc<RequestCounter>,
    permits: Semaphore,
    /// Set when a side said its rate limit is used up: no request before this instant.
    not_before: Mutex<Option<Instant>>,
}

impl Http {
    pub fn new(
        side: Side,
        settings: HttpSettings,
        counter: Arc<RequestCounter>,
    ) -> Result<Self, ConnectorError> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("fieldsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ConnectorError::new(
                    side,
                    "create the HTTP client",
                    ErrorKind::Invalid(e.to_string()),
                )
            })?;
        let permits = Semaphore::new(settings.concurrency.max(1));
        Ok(Http {
            client,
            side,
            settings,
            counter,
            permits,
            not_before: Mutex::new(None),
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn settings(&self) -> &HttpSettings {
        &self.settings
    }

    pub fn counter(&self) -> &Arc<RequestCounter> {
        &self.counter
    }

    /// An error of this side for `call`.
    pub fn error(&self, call: &Call<'_>, kind: ErrorKind) -> ConnectorError {
        let e = ConnectorError::new(self.side, call.name, kind);
        match call.record {
            Some(r) => e.with_record(r),
            None => e,
        }
    }

    /// Sends a request built by `build`, retrying what is worth retrying. `build(true)` must
    /// fetch a fresh token: it is called once after a `401`. Returns any 2xx answer, and any
    /// other 4xx for the caller to interpret (a `401` that a fresh token did not cure included).
    pub async fn send<F, Fut>(&self, call: Call<'_>, mut build: F) -> Result<Reply, ConnectorError>
    where
        F: FnMut(bool) -> Fut,
        Fut: Future<Output = Result<reqwest::RequestBuilder, ConnectorError>>,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        let mut fresh_token = false;
        loop {
            attempt += 1;
            self.wait_rate_limit().await;
            let request = build(fresh_token).await?;
            fresh_token = false;
            self.counter.bump(self.side, call.kind, |s| {
                s.requests += 1;
                if attempt > 1 {
                    s.retries += 1;
                }
            });
            let failure = match self.exchange(request).await {
                Ok(reply) => {
                    self.note_rate_headers(&reply.headers);
                    match reply.status {
                        401 if !refreshed => {
                            // Expired or revoked token: one fresh token, not counted as an attempt.
                            refreshed = true;
                            fresh_token = true;
                            attempt -= 1;
                            continue;
                        }
                        429 => {
                            self.counter
                                .bump(self.side, call.kind, |s| s.rate_limited += 1);
                            let wait = retry_after(&reply.headers);
                            if let Some(w) = wait
                                && w > self.settings.max_retry_wait
                            {
                                self.counter.bump(self.side, call.kind, |s| s.failures += 1);
                                return Err(self.error(
                                    &call,
                                    ErrorKind::RateLimited {
                                        retry_after: Some(w),
                                    },
                                ));
                            }
                            (
                                ErrorKind::RateLimited { retry_after: wait },
                                wait.map(|w| w.max(Duration::from_millis(1))),
                            )
                        }
                        s if s >= 500 => {
                            let message = if call.kind == CallKind::Auth {
                                String::new()
                            } else {
                                reply.snippet()
                            };
                            (ErrorKind::Server { status: s, message }, None)
                        }
                        _ => return Ok(reply),
                    }
                }
                // An answer over the size cap would be as large again: not retried.
                Err(kind) if !kind.is_transient() => {
                    self.counter.bump(self.side, call.kind, |s| s.failures += 1);
                    tracing::warn!(side = %self.side, call = call.name, error = %kind, "giving up");
                    return Err(self.error(&call, kind));
                }
                Err(kind) => (kind, None),
            };
            let (kind, wait) = failure;
            if matches!(kind, ErrorKind::Connect(_)) && !self.settings.retry_unreachable {
                self.counter.bump(self.side, call.kind, |s| s.failures += 1);
                return Err(self.error(&call, kind));
            }
            if call.replay == Replay::CheckFirst && kind.may_have_landed() {
                self.counter.bump(self.side, call.kind, |s| s.failures += 1);
                tracing::warn!(side = %self.side, call = call.name, error = %kind, "answer lost: not sent again before what landed is known");
                return Err(self.error(&call, ErrorKind::OutcomeUnknown(Box::new(kind))));
            }
            if attempt >= self.settings.max_attempts.max(1) {
                self.counter.bump(self.side, call.kind, |s| s.failures += 1);
                tracing::warn!(side = %self.side, call = call.name, attempts = attempt, error = %kind, "giving up");
                return Err(self.error(&call, kind));
            }
            let delay = wait.unwrap_or_else(|| self.backoff(attempt));
            tracing::debug!(side = %self.side, call = call.name, attempt, ?delay, error = %kind, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Sends and reads the whole answer under the size cap.
    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<Reply, ErrorKind> {
        let mut response = request.send().await.map_err(|e| self.map_reqwest(e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let limit = self.settings.max_body_bytes;
        if let Some(len) = response.content_length()
            && len as usize > limit
        {
            return Err(ErrorKind::BodyTooLarge { limit });
        }
        // Sized once when the length is announced (a page of records is hundreds of KB).
        let mut body = Vec::with_capacity(response.content_length().map_or(0, |l| l as usize));
        while let Some(chunk) = response.chunk().await.map_err(|e| self.map_reqwest(e))? {
            if body.len() + chunk.len() > limit {
                return Err(ErrorKind::BodyTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn map_reqwest(&self, e: reqwest::Error) -> ErrorKind {
        // reqwest's messages can carry the URL; ours never carry credentials in URLs. A
        // connection that could not be made (refused, or timed out while connecting) sent
        // nothing: it is `Connect`, which any call may retry.
        if e.is_connect() {
            ErrorKind::Connect(root_cause(&e))
        } else if e.is_timeout() {
            ErrorKind::Timeout(self.settings.timeout)
        } else {
            ErrorKind::Transport(root_cause(&e))
        }
    }

    /// Exponential back-off with equal jitter: half the step fixed, half random.
    fn backoff(&self, attempt: u32) -> Duration {
        let step = self
            .settings
            .base_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.settings.max_backoff);
        let half = step / 2;
        let jitter = rand::rng().random_range(0..=half.as_micros().max(1) as u64);
        half + Duration::from_micros(jitter)
    }

    async fn wait_rate_limit(&self) {
        let until = *self.not_before.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = until {
            let now = Instant::now();
            if t > now {
                tokio::time::sleep(t - now).await;
            }
        }
    }

    /// When a side says no call is left in its window, wait for the reset before the next one.
    fn note_rate_headers(&self, headers: &HeaderMap) {
        let remaining = header_u64(headers, "x-ratelimit-remaining");
        if remaining == Some(0)
            && let Some(wait) = rate_limit_reset(headers)
            && wait <= self.settings.max_retry_wait
        {
            *self.not_before.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Instant::now() + wait);
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// How long a 429 asks to wait: `Retry-After` (seconds or an HTTP date), else
/// `X-RateLimit-Reset`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(v) = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(date) = chrono::DateTime::parse_from_rfc2822(v) {
            let secs = (date.timestamp() - chrono::Utc::now().timestamp()).max(0);
            return Some(Duration::from_secs(secs as u64));
        }
    }
    rate_limit_reset(headers)
}

/// `X-RateLimit-Reset` as a wait: either seconds to go, or a Unix time (Mautic sends the time
/// the window resets).
fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let v = header_u64(headers, "x-ratelimit-reset")?;
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    Some(Duration::from_secs(if v > 1_000_000_000 {
        v.saturating_sub(now)
    } else {
        v
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_dates_and_reset() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let mut h = HeaderMap::new();
        let reset = chrono::Utc::now().timestamp() + 30;
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&reset.to_string()).unwrap(),
        );
        let w = retry_after(&h).unwrap();
        assert!((29..=30).contains(&w.as_secs()), "{w:?}");
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from_static("12"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(12)));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let http = Http::new(
            Side::Mautic,
            HttpSettings {
                base_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                ..HttpSettings::default()
            },
            RequestCounter::new(),
        )
        .unwrap();
        for attempt in 1..20 {
            let d = http.backoff(attempt);
            let step = (100u64 << (attempt - 1).min(16)).min(1000);
            assert!(d.as_millis() as u64 >= step / 2, "attempt {attempt}: {d:?}");
            assert!(d.as_millis() as u64 <= step, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn snippet_drops_control_characters_and_truncates() {
        let s = snippet(b"line\none\x07");
        assert_eq!(s, "lineone");
        let long = vec![b'a'; 500];
        assert_eq!(snippet(&long).len(), 203);
    }

    #[test]
    fn counter_sums_by_side_and_writes() {
        let c = RequestCounter::new();
        c.bump(Side::Weavy, CallKind::List, |s| s.requests += 3);
        c.bump(Side::Weavy, CallKind::Update, |s| s.requests += 2);
        c.bump(Side::Mautic, CallKind::BatchUpdate, |s| s.requests += 1);
        assert_eq!(c.total(Side::Weavy), 5);
        assert_eq!(c.writes(Side::Weavy), 2);
        assert_eq!(c.writes(Side::Mautic), 1);
        c.reset();
        assert_eq!(c.total(Side::Weavy), 0);
    }
}
