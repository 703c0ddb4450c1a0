//! Simulators of the two services, faithful to `API-NOTES.md`, quirks included, so that every
//! test, bench and `fieldsync demo` runs on one machine with no set-up.
//!
//! `mautic.rs` and `weavy.rs` hold each service's in-memory data and its axum routes. This file
//! holds what both share: the [`SimControl`] knobs (latency, faults, clock offset, rate limit),
//! the middleware that applies them, request counters, and [`SimServer`], which serves a router
//! on a loopback port and stops it when dropped.

pub mod dataset;
pub mod mautic;
pub mod pair;
pub mod weavy;

pub use pair::SimPair;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The kinds of fault a simulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// HTTP 503 with a short body.
    ServerError,
    /// HTTP 429 with `Retry-After` and `X-RateLimit-*` headers.
    RateLimited,
    /// No answer for [`Knobs::stall`], then 504: the client's timeout fires first.
    Timeout,
    /// The real answer, cut off halfway: the connection closes before the announced length.
    /// The request was carried out.
    CutOff,
    /// The request is carried out (a write lands), then the answer is a 503: what a proxy in
    /// front of a slow server gives (API-NOTES.md: "a 5xx after the write landed").
    ServerErrorAfterWrite,
    /// The request is carried out, then no answer for [`Knobs::stall`]: the client's timeout
    /// fires although the write landed.
    TimeoutAfterWrite,
}

impl Fault {
    /// The faults after which the request was carried out: the client cannot tell whether a
    /// write landed.
    pub const LOST_ANSWERS: [Fault; 3] = [
        Fault::CutOff,
        Fault::ServerErrorAfterWrite,
        Fault::TimeoutAfterWrite,
    ];
}

/// The adjustable behaviour of a simulator. Change it at any time through
/// [`SimControl::set_knobs`] or [`SimControl::update_knobs`].
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    /// Added to every answer.
    pub latency: Duration,
    /// Probability (0..=1) that a request gets a fault instead of its answer.
    pub fault_rate: f64,
    /// The faults drawn from, uniformly.
    pub fault_mix: Vec<Fault>,
    /// The `Retry-After` a 429 fault sends, in seconds.
    pub retry_after_secs: u64,
    /// How long a [`Fault::Timeout`] hangs before answering.
    pub stall: Duration,
    /// Added to the simulator's clock: every time it stamps (modification dates, `srvDate`)
    /// is off by this much.
    pub clock_offset: chrono::Duration,
    /// At most this many requests per window, then 429 until the window ends.
    pub rate_limit: Option<RateLimit>,
    /// Faults are not injected on authentication calls when false.
    pub faults_on_auth: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            latency: Duration::ZERO,
            fault_rate: 0.0,
            fault_mix: vec![
                Fault::ServerError,
                Fault::RateLimited,
                Fault::Timeout,
                Fault::CutOff,
            ],
            retry_after_secs: 1,
            stall: Duration::from_secs(10),
            clock_offset: chrono::Duration::zero(),
            rate_limit: None,
            faults_on_auth: true,
        }
    }
}

/// A fixed-window rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

/// Counters a simulator keeps: requests by route, faults injected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Requests by "METHOD /route/pattern", faulted ones included.
    pub requests: BTreeMap<String, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// 429 answers given by the rate limit (not by the fault knob).
    pub rate_limited: u64,
}

impl SimCounters {
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    /// Requests whose "METHOD /pattern" key contains `needle`.
    pub fn requests_matching(&self, needle: &str) -> u64 {
        self.requests
            .iter()
            .filter(|(k, _)| k.contains(needle))
            .map(|(_, v)| v)
            .sum()
    }

    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }
}

/// A request as a simulator received it, kept while [`SimControl::record_requests`] is on
/// (the scale bench replays a cycle's writes from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// The path and query, as sent.
    pub uri: String,
    /// The matched route pattern (`/api/contacts/batch/edit`, `/v1/Data/{project}/{entity}`).
    pub route: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// A function run on one request (tests use it to kill a client at a precise point).
pub type RequestHook = Arc<dyn Fn() + Send + Sync>;

/// When a [`RequestHook`] runs.
#[derive(Clone)]
struct Hook {
    /// The request number it runs on (1: the next request).
    at: u64,
    /// Before the request is handled, or after it is handled and before it is answered.
    after: bool,
    run: RequestHook,
}

/// The knobs, counters and random source of one simulator.
pub struct SimControl {
    knobs: Mutex<Knobs>,
    counters: Mutex<SimCounters>,
    rng: Mutex<Xoshiro256PlusPlus>,
    window: Mutex<(Instant, u32)>,
    seen: std::sync::atomic::AtomicU64,
    hook: Mutex<Option<Hook>>,
    recording: std::sync::atomic::AtomicBool,
    log: Mutex<Vec<LoggedRequest>>,
}

impl std::fmt::Debug for SimControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimControl")
            .field("knobs", &self.knobs)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl SimControl {
    pub fn new(seed: u64) -> Arc<Self> {
        Arc::new(SimControl {
            knobs: Mutex::new(Knobs::default()),
            counters: Mutex::new(SimCounters::default()),
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(seed)),
            window: Mutex::new((Instant::now(), 0)),
            seen: std::sync::atomic::AtomicU64::new(0),
            hook: Mutex::new(None),
            recording: std::sync::atomic::AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
        })
    }

    /// Starts or stops keeping every request (authentication calls excepted) with its body.
    pub fn record_requests(&self, on: bool) {
        self.recording
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// The requests kept so far, in arrival order; the log is emptied.
    pub fn take_requests(&self) -> Vec<LoggedRequest> {
        std::mem::take(&mut *lock(&self.log))
    }

    /// Runs `f` on the `n`-th request from now (1: the next one), before that request is
    /// handled or, with `after`, once it is handled and before it is answered. One shot.
    pub fn on_request(&self, n: u64, after: bool, f: RequestHook) {
        let at = self.seen.load(std::sync::atomic::Ordering::SeqCst) + n.max(1);
        *lock(&self.hook) = Some(Hook { at, after, run: f });
    }

    pub fn clear_hook(&self) {
        *lock(&self.hook) = None;
    }

    /// The hook due on request number `n`, taken (it runs once).
    fn take_hook(&self, n: u64) -> Option<Hook> {
        let mut h = lock(&self.hook);
        if h.as_ref().is_some_and(|h| h.at == n) {
            h.take()
        } else {
            None
        }
    }

    pub fn knobs(&self) -> Knobs {
        lock(&self.knobs).clone()
    }

    pub fn set_knobs(&self, knobs: Knobs) {
        *lock(&self.knobs) = knobs;
    }

    pub fn update_knobs(&self, f: impl FnOnce(&mut Knobs)) {
        f(&mut lock(&self.knobs));
    }

    /// The simulator's clock: the real time plus the clock offset knob.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + lock(&self.knobs).clock_offset
    }

    pub fn counters(&self) -> SimCounters {
        lock(&self.counters).clone()
    }

    pub fn reset_counters(&self) {
        *lock(&self.counters) = SimCounters::default();
    }

    /// A random draw from the simulator's seeded source (for data generation and faults).
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut Xoshiro256PlusPlus) -> T) -> T {
        f(&mut lock(&self.rng))
    }

    fn draw_fault(&self, knobs: &Knobs) -> Option<Fault> {
        if knobs.fault_rate <= 0.0 || knobs.fault_mix.is_empty() {
            return None;
        }
        self.with_rng(|rng| {
            rng.random_bool(knobs.fault_rate.min(1.0))
                .then(|| knobs.fault_mix[rng.random_range(0..knobs.fault_mix.len())])
        })
    }

    /// Counts a request against the rate limit; `Some(reset)` when it is over the limit.
    fn over_rate_limit(&self, limit: RateLimit) -> Option<(Duration, u32)> {
        let mut w = lock(&self.window);
        let now = Instant::now();
        if now.duration_since(w.0) >= limit.window {
            *w = (now, 0);
        }
        let reset = limit.window.saturating_sub(now.duration_since(w.0));
        if w.1 >= limit.requests {
            Some((reset, 0))
        } else {
            w.1 += 1;
            None
        }
    }
}

/// Locks a mutex, ignoring poisoning (a panicking handler must not take the simulator down).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The middleware applying the knobs. Install with
/// `router.route_layer(axum::middleware::from_fn_with_state(control, sim::apply_knobs))`
/// so that the matched route is known.
pub async fn apply_knobs(
    State(control): State<Arc<SimControl>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| request.uri().path().to_owned());
    let key = format!("{} {}", request.method(), route);
    let is_auth = route.contains("oauth") || route.contains("Authenticate");
    *lock(&control.counters).requests.entry(key).or_default() += 1;
    let n = control
        .seen
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        + 1;
    let hook = control.take_hook(n);
    let request = if !is_auth && control.recording.load(std::sync::atomic::Ordering::SeqCst) {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        lock(&control.log).push(LoggedRequest {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            route: route.clone(),
            content_type: parts
                .headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: bytes.to_vec(),
        });
        Request::from_parts(parts, Body::from(bytes))
    } else {
        request
    };
    if let Some(h) = &hook
        && !h.after
    {
        (h.run)();
    }
    let knobs = control.knobs();
    if !knobs.latency.is_zero() {
        tokio::time::sleep(knobs.latency).await;
    }
    if let Some(limit) = knobs.rate_limit
        && !is_auth
        && let Some((reset, remaining)) = control.over_rate_limit(limit)
    {
        lock(&control.counters).rate_limited += 1;
        return rate_limited(reset.as_secs().max(1), limit.requests, remaining, true);
    }
    let fault = if is_auth && !knobs.faults_on_auth {
        None
    } else {
        control.draw_fault(&knobs)
    };
    if let Some(f) = fault {
        *lock(&control.counters)
            .faults
            .entry(format!("{f:?}"))
            .or_default() += 1;
        match f {
            Fault::ServerError => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service temporarily unavailable (simulated)",
                )
                    .into_response();
            }
            Fault::RateLimited => {
                return rate_limited(knobs.retry_after_secs, 0, 0, false);
            }
            Fault::Timeout => {
                tokio::time::sleep(knobs.stall).await;
                return (StatusCode::GATEWAY_TIMEOUT, "stalled (simulated)").into_response();
            }
            Fault::CutOff => {
                let mut response = next.run(request).await;
                stamp_date(&mut response, &control);
                return cut_off(response).await;
            }
            Fault::ServerErrorAfterWrite => {
                let _ = next.run(request).await;
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The upstream server did not answer in time (simulated)",
                )
                    .into_response();
            }
            Fault::TimeoutAfterWrite => {
                let _ = next.run(request).await;
                tokio::time::sleep(knobs.stall).await;
                return (StatusCode::GATEWAY_TIMEOUT, "stalled (simulated)").into_response();
            }
        }
    }
    let mut response = next.run(request).await;
    stamp_date(&mut response, &control);
    if let Some(h) = &hook
        && h.after
    {
        (h.run)();
    }
    response
}

/// The `Date` header from the simulator's own (possibly offset) clock, as a real server's
/// would come from its clock.
fn stamp_date(response: &mut Response, control: &SimControl) {
    let date = control
        .now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    if let Ok(v) = HeaderValue::from_str(&date) {
        response.headers_mut().insert("date", v);
    }
}

fn rate_limited(retry_after: u64, limit: u32, remaining: u32, reset_header: bool) -> Response {
    let body = serde_json::json!({
        "errors": [{"code": 429, "message": "API rate limit exceeded.", "type": "api_rate_limit"}]
    });
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    let h = response.headers_mut();
    h.insert("retry-after", HeaderValue::from(retry_after));
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    if reset_header {
        let reset = Utc::now().timestamp() as u64 + retry_after;
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    }
    response
}

/// The answer with its body cut off halfway: the full `Content-Length` is announced, half the
/// bytes are sent, then the connection breaks.
async fn cut_off(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let half = bytes.slice(..bytes.len() / 2);
    parts
        .headers
        .insert("content-length", HeaderValue::from(bytes.len()));
    let stream = futures::stream::iter(vec![
        Ok::<_, std::io::Error>(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated cut-off",
        )),
    ]);
    Response::from_parts(parts, Body::from_stream(stream))
}

/// A router served on a loopback port until dropped.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimServer {
    /// Serves `router` on `127.0.0.1:port` (0: any free port).
    pub async fn start(router: Router, port: u16) -> std::io::Result<SimServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(SimServer {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
