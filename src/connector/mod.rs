//! Talking to the two real systems. One [`Connector`] trait for both sides; `mautic.rs` and
//! `weavy.rs` implement it over `http.rs`, which owns timeouts, retries, back-off, rate limits,
//! body-size caps and the request counter. Nothing outside this module touches reqwest.
//!
//! Records come out already parsed into the model's typed values, keyed by the side's own field
//! code (weavy field name, Mautic alias), with their modification time in UTC. The mapping from
//! side codes to canonical names is the sync layer's business, not the connector's.

pub mod http;
pub mod mautic;
pub mod weavy;

use crate::model::{FieldType, RecordKind, Side, Value};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

pub use http::{CallKind, HttpSettings, RequestCounter, RequestStats};

/// The Mautic pseudo-field holding the date of an e-mail bounce (Do Not Contact reason 2,
/// the NPAI). Read-only: it is changed through the DNC endpoints, never as a field.
pub const DNC_BOUNCED: &str = "dnc_bounced";
/// The Mautic pseudo-field holding the date of an unsubscribe (Do Not Contact reason 1).
pub const DNC_UNSUBSCRIBED: &str = "dnc_unsubscribed";

/// A password, client secret or token. Its `Debug` never shows it and it cannot be
/// serialized, so it cannot end up in a log, an export or an error message by accident.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One field of one table, as the side describes it (custom fields included).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    /// The weavy field name or the Mautic alias.
    pub code: String,
    pub label: String,
    /// The side's own type name (`text(foreignkey)`, `email`, `multiselect`...).
    pub raw_type: String,
    /// The model type the side's type reads as.
    pub field_type: FieldType,
    /// Created by the customer rather than shipped with the product.
    pub custom: bool,
    /// fieldsync may write it (weavy foreign keys and Mautic pseudo-fields may not).
    pub writable: bool,
    pub required: bool,
    /// Mautic: a unique identifier field (e-mail by default).
    pub unique: bool,
    /// A number field's decimals as the side shows them (Mautic shows a number field with
    /// no decimals as an integer); `None` when it shows the number as stored.
    pub decimals: Option<u8>,
}

/// A record as read from a side.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteRecord {
    pub kind: RecordKind,
    /// `customercontact_ID` on weavy, the numeric id as text on Mautic.
    pub id: String,
    /// The side's record-level modification time, UTC (Mautic `dateModified`, falling back to
    /// `dateAdded`; weavy `srvDateUTC`).
    pub modified_at: DateTime<Utc>,
    /// Field values by the side's field code, typed from the side's field list. Mautic's DNC
    /// pseudo-fields ([`DNC_BOUNCED`], [`DNC_UNSUBSCRIBED`]) appear here too.
    pub fields: BTreeMap<String, Value>,
    /// A Mautic anonymous visitor (no identified e-mail). Never synced.
    pub anonymous: bool,
}

impl RemoteRecord {
    pub fn get(&self, code: &str) -> &Value {
        self.fields.get(code).unwrap_or(&Value::Blank)
    }
}

/// One record to write: for an update the id of the record, for an insert the id to create it
/// with (weavy) or none (Mautic picks it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordWrite {
    pub id: Option<String>,
    /// Values by the side's field code. A `Value::Blank` here means "clear this field".
    pub fields: Vec<(String, Value)>,
}

/// The side's answer for one record of a write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// Done. `id` is the record's id (the new one for an insert); `record` is the record as
    /// the side returned it, when it did (Mautic does; weavy does not).
    Done {
        id: String,
        record: Option<RemoteRecord>,
        /// Fields the side refused while it took the rest of the write (Mautic: a value too
        /// long for the field, an option the field does not have): by field code, why.
        refused: Vec<(String, String)>,
    },
    /// The side refused this record (4xx on it): retrying the same write will not help.
    Rejected(ConnectorError),
    /// A transient failure for this record (timeout, 5xx, 429): retry later.
    Failed(ConnectorError),
}

/// A Do Not Contact reason on Mautic's e-mail channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DncReason {
    Unsubscribed = 1,
    Bounced = 2,
    Manual = 3,
}

/// Pages through the records of one table changed since a time. Holds its own position, so
/// the caller only ever has one page in memory.
pub trait Pager: Send {
    /// The next page, or `None` when there is no more.
    fn next_page(
        &mut self,
    ) -> impl Future<Output = Result<Option<Vec<RemoteRecord>>, ConnectorError>> + Send;

    /// The side's own clock when the first page was answered (its HTTP `Date` header), once a
    /// page was read. Every change made after it may be missing from this pull, none made
    /// before it is: the next cursor starts there (minus the overlap window), so no edit made
    /// while paging is ever skipped, whatever the two clocks say.
    fn server_time(&self) -> Option<DateTime<Utc>>;

    /// How many records this listing holds, once a page said it (Mautic's `total`); for
    /// progress only, never to decide where a listing ends.
    fn total(&self) -> Option<u64> {
        None
    }
}

/// What fieldsync needs from a side. Implemented by [`mautic::MauticClient`] and
/// [`weavy::WeavyClient`]; the simulators in `crate::sim` answer the same HTTP calls.
pub trait Connector: Send + Sync {
    type Pager: Pager;

    fn side(&self) -> Side;

    /// The table's fields, custom fields included (Mautic: plus the DNC pseudo-fields for
    /// contacts).
    fn fields(
        &self,
        kind: RecordKind,
    ) -> impl Future<Output = Result<Vec<FieldInfo>, ConnectorError>> + Send;

    /// The records of `kind` changed since `since` (all of them when `None`), page by page, in
    /// an order that never skips a record edited while paging (it may return it twice).
    fn changed_since(&self, kind: RecordKind, since: Option<DateTime<Utc>>) -> Self::Pager;

    /// The records whose `field` equals `value` (e-mail, company key, id).
    fn find_by(
        &self,
        kind: RecordKind,
        field: &str,
        value: &str,
    ) -> impl Future<Output = Result<Vec<RemoteRecord>, ConnectorError>> + Send;

    /// One record; `Ok(None)` when the side answers 404 (deleted or merged away).
    fn get(
        &self,
        kind: RecordKind,
        id: &str,
    ) -> impl Future<Output = Result<Option<RemoteRecord>, ConnectorError>> + Send;

    /// Creates records. One outcome per item, in order. `Err` only when nothing could be
    /// attempted (authentication failed, the side is unreachable after retries).
    fn insert(
        &self,
        kind: RecordKind,
        items: Vec<RecordWrite>,
    ) -> impl Future<Output = Result<Vec<WriteOutcome>, ConnectorError>> + Send;

    /// Updates records (only the fields given). One outcome per item, in order.
    fn update(
        &self,
        kind: RecordKind,
        items: Vec<RecordWrite>,
    ) -> impl Future<Output = Result<Vec<WriteOutcome>, ConnectorError>> + Send;

    /// Requests sent so far, by kind of call.
    fn counter(&self) -> &RequestCounter;
}

/// What went wrong in a call to a side, with enough context to act on it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{side} {call}{}: {kind}", .record.as_ref().map(|r| format!(" (record {r})")).unwrap_or_default())]
pub struct ConnectorError {
    pub side: Side,
    /// The call, e.g. "list contacts", "insert marketinginbound".
    pub call: String,
    /// The record concerned, when there is one.
    pub record: Option<String>,
    pub kind: ErrorKind,
}

impl ConnectorError {
    pub fn new(side: Side, call: impl Into<String>, kind: ErrorKind) -> Self {
        ConnectorError {
            side,
            call: call.into(),
            record: None,
            kind,
        }
    }

    pub fn with_record(mut self, record: impl Into<String>) -> Self {
        self.record = Some(record.into());
        self
    }

    /// Worth trying again later: timeouts, 5xx, 429, connection failures, cut-off bodies.
    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }
}

/// The kinds of failure a side can give.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    #[error("no answer within {0:?}; the side is slow or unreachable, fieldsync will retry")]
    Timeout(Duration),
    #[error("could not connect: {0}; check the URL in the config and the network")]
    Connect(String),
    #[error("the connection broke while reading the answer: {0}")]
    Transport(String),
    #[error("server error HTTP {status}: {message}")]
    Server { status: u16, message: String },
    #[error("rate limited (HTTP 429){}", .retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error(
        "authentication refused (HTTP {status}): {message}; check the credentials in the config or environment"
    )]
    Auth { status: u16, message: String },
    #[error(
        "the API user lacks the right '{column}' on '{table}': in weavy Studio, data dictionary, tick '{column}' for '{table}'"
    )]
    MissingRight {
        table: &'static str,
        column: &'static str,
    },
    #[error("refused (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("not found (HTTP 404)")]
    NotFound,
    #[error("unexpected answer: {0}")]
    Decode(String),
    #[error(
        "answer larger than the {limit}-byte cap; raise http.max_body_bytes if this is legitimate"
    )]
    BodyTooLarge { limit: usize },
    #[error("{0}")]
    Invalid(String),
    /// A write whose answer was lost after it may have reached the side (see
    /// [`http::Replay::CheckFirst`]): it is not sent again until what landed is known.
    #[error(
        "the answer was lost ({0}); the write may have been done: fieldsync looks for it before sending it again"
    )]
    OutcomeUnknown(Box<ErrorKind>),
    /// A listing whose pages kept moving under it (records deleted or moved while it was
    /// paged through): it stops rather than skip a record.
    #[error(
        "the records moved while they were paged through (started again {restarts} times); nothing was skipped: the next cycle reads them again"
    )]
    Unsettled { restarts: u32 },
}

impl ErrorKind {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout(_)
                | ErrorKind::Connect(_)
                | ErrorKind::Transport(_)
                | ErrorKind::Server { .. }
                | ErrorKind::RateLimited { .. }
                | ErrorKind::OutcomeUnknown(_)
                | ErrorKind::Unsettled { .. }
        )
    }

    /// The request may have been carried out although no answer said so: a timeout, a
    /// broken answer or a server error after it was sent. A refused connection and a 429
    /// did nothing.
    pub fn may_have_landed(&self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout(_)
                | ErrorKind::Transport(_)
                | ErrorKind::Server { .. }
                | ErrorKind::OutcomeUnknown(_)
        )
    }
}

/// The weavy right a call needs, named as Studio's data dictionary names its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeavyRight {
    Read,
    Insert,
    Update,
}

impl WeavyRight {
    pub const ALL: [WeavyRight; 3] = [WeavyRight::Read, WeavyRight::Insert, WeavyRight::Update];

    /// The Studio column to tick.
    pub fn studio_column(self) -> &'static str {
        match self {
            WeavyRight::Read => "API lecture",
            WeavyRight::Insert => "API ajout",
            WeavyRight::Update => "API MAJ",
        }
    }
}

impl fmt::Display for WeavyRight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.studio_column())
    }
}
