//! The readings of what `API-NOTES.md` leaves **unknown** about weavy's API: each is a knob
//! with every plausible reading, so the tests run fieldsync under all of them (fieldsync
//! must be right whichever one the real server has). [`WeavyReadings::default`] is the
//! simulator's first choice of each; [`WeavyReadings::paging_combinations`] and the others
//! list what a test iterates.

/// In which zone the server compares a `srvDate` filter value (API-NOTES: "which zone the
/// `srvDate` filter compares in is unknown (the project's zone, or UTC)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterZone {
    /// As the wall time `srvDate` shows (see [`ShownZone`]).
    #[default]
    Project,
    /// As UTC.
    Utc,
}

/// The zone `srvDate` is shown in (API-NOTES: "their difference shows the zone the server
/// stores"): the project's, or the server's own, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShownZone {
    #[default]
    Project,
    Utc,
}

/// What `offset` counts (API-NOTES: "it may count rows or pages").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetUnit {
    #[default]
    Rows,
    /// `offset: n` is the n-th page of `page_cap` rows.
    Pages,
}

/// The order of a Select's rows (API-NOTES: "the order of rows is unknown (a record edited
/// during paging may move)").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowOrder {
    /// The order records were inserted in; an edit moves nothing.
    #[default]
    Insertion,
    /// By key.
    Key,
    /// By `srvDate`, oldest first: an edited record moves to the end.
    Modified,
}

/// Which fields a Select row holds (API-NOTES: "whether unrequested fields come back is
/// unknown").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReturnFields {
    /// The key and the fields asked for (all of them when none is asked), and the stamps.
    #[default]
    Requested,
    /// Every field, whatever is asked.
    All,
    /// Only the fields asked for, the key and the stamps included only when asked.
    Strict,
}

/// Whether an update needs `<entity>_ID` in its body (API-NOTES: "whether it is required is
/// unknown").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PutKey {
    #[default]
    Optional,
    /// An update without it is refused with 400.
    Required,
}

/// What an insert of a key that exists answers (not documented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicateInsert {
    /// 400 "duplicate key".
    #[default]
    BadRequest,
    /// 409.
    Conflict,
    /// 500, as an unhandled SQL error would.
    ServerError,
    /// 200: the record is overwritten with what was sent (fields not sent are emptied).
    Overwrite,
}

/// What a call without its API right answers (API-NOTES: "exact status and body unknown").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingRight {
    #[default]
    Forbidden,
    Unauthorized,
}

/// The body of a successful write (API-NOTES: "response bodies are unknown").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteAnswer {
    /// `{"success": true, "<entity>_ID": ...}`.
    #[default]
    Json,
    /// No body.
    Empty,
    /// A plain text line.
    Text,
}

/// One reading of each unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WeavyReadings {
    pub shown_zone: ShownZone,
    pub filter_zone: FilterZone,
    pub offset_unit: OffsetUnit,
    pub row_order: RowOrder,
    pub return_fields: ReturnFields,
    pub put_key: PutKey,
    pub duplicate_insert: DuplicateInsert,
    pub missing_right: MissingRight,
    pub write_answer: WriteAnswer,
}

impl WeavyReadings {
    /// Every combination of the readings that decide how a pull must page: the filter's
    /// zone, what `offset` counts and the order of rows (12).
    pub fn paging_combinations() -> Vec<WeavyReadings> {
        let mut out = Vec::new();
        for filter_zone in [FilterZone::Project, FilterZone::Utc] {
            for offset_unit in [OffsetUnit::Rows, OffsetUnit::Pages] {
                for row_order in [RowOrder::Insertion, RowOrder::Key, RowOrder::Modified] {
                    out.push(WeavyReadings {
                        filter_zone,
                        offset_unit,
                        row_order,
                        ..WeavyReadings::default()
                    });
                }
            }
        }
        out
    }

    /// `srvDate` shown in UTC, under each filter zone and what `offset` counts (4).
    pub fn shown_zone_variants() -> Vec<WeavyReadings> {
        let mut out = Vec::new();
        for filter_zone in [FilterZone::Project, FilterZone::Utc] {
            for offset_unit in [OffsetUnit::Rows, OffsetUnit::Pages] {
                out.push(WeavyReadings {
                    shown_zone: ShownZone::Utc,
                    filter_zone,
                    offset_unit,
                    row_order: RowOrder::Modified,
                    ..WeavyReadings::default()
                });
            }
        }
        out
    }

    /// Every reading of the writes' unknowns, each with the defaults of the others.
    pub fn write_variants() -> Vec<WeavyReadings> {
        let d = WeavyReadings::default();
        let mut out = vec![d];
        for duplicate_insert in [
            DuplicateInsert::Conflict,
            DuplicateInsert::ServerError,
            DuplicateInsert::Overwrite,
        ] {
            out.push(WeavyReadings {
                duplicate_insert,
                ..d
            });
        }
        out.push(WeavyReadings {
            put_key: PutKey::Required,
            ..d
        });
        out.push(WeavyReadings {
            missing_right: MissingRight::Unauthorized,
            ..d
        });
        for write_answer in [WriteAnswer::Empty, WriteAnswer::Text] {
            out.push(WeavyReadings { write_answer, ..d });
        }
        for return_fields in [ReturnFields::All, ReturnFields::Strict] {
            out.push(WeavyReadings { return_fields, ..d });
        }
        out
    }
}
