//! How a weavy Select is paged so that no record is missed, whichever reading of the
//! unknowns of `API-NOTES.md` ("Reading") the server has: `offset` may count rows or pages,
//! the page size is not said, and rows may come in an order an edit changes (a record edited
//! during paging moves to the end), while records may be deleted meanwhile.
//!
//! [`Paging`] is the rule, with no I/O: it says which `offset` to ask for next and, given the
//! rows of that answer, which of them are new and whether the pages still line up.
//!
//! - **What `offset` counts** is found on the first pull: after page 0 (n rows), `offset: 1`
//!   is asked. Counting rows, it answers page 0 less its first row, then more; counting
//!   pages, it answers the rows after page 0 (none of page 0's), or none. An answer that is
//!   neither (rows moved in between) starts the pull again.
//!   The finding is kept by the client for its later pulls ([`Unit`]). With n = 1 and one
//!   row at offset 1, both readings are the same so far: the pull goes on as pages of one
//!   row, without taking it as found.
//! - **Rows**: each request starts `k` rows before the end of what was read
//!   ([`overlap_of`]: half a page at most, a tenth of it at least 8). Surviving rows keep
//!   their order relative to each other (an edit only moves a row to the end, a delete only
//!   removes one), so when the first row of the answer is one already read, no row can have
//!   slipped into the part already passed. When it is not (more than `k` rows before the
//!   position vanished or moved during one round trip), the pull starts again from offset 0;
//!   after [`MAX_RESTARTS`] it stops with a transient error and the next cycle reads again.
//!   The end is an answer with nothing beyond the overlap: a short page is not the end.
//!   An answer of one row leaves no room for an overlap: a server that pages rows one at a
//!   time could make a pull miss a row deleted or moved behind it in that round trip (none
//!   is known to; the daily full read would heal it).
//! - **Pages**: no overlap can be asked for, so after page p, page p-1 is read again: a row
//!   that slipped back into it (rows before it vanished or moved between the two reads) is in
//!   that second read. When none of page p-1's rows is there any more (a page or more
//!   slipped), the pull starts again. This costs twice the requests; `fieldsync check` says
//!   which reading the server has.
//!
//! Both rules rely on rows moving only backwards while a pull pages: a row can leave the
//! rows before a position (deleted, edited, moved to the end), never join them. The pull's
//! filter makes it so: it ends at the pull's start (`srvDate LessThan`, see `zone`), so a
//! record added or edited meanwhile is not in it (the next pull reads it). A row moving
//! forwards then backwards between two requests could otherwise dodge both.
//!
//! A row that comes twice with the same `srvDateUTC` is returned once (rows of the last two
//! answers are remembered, so memory does not grow with the table); a row that changed in
//! between is returned again, which is right: it is a newer sighting.

use crate::connector::RemoteRecord;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// What `offset` counts, once found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Rows,
    /// Pages of `size` rows (the length of the first full page seen).
    Pages {
        size: usize,
    },
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unit::Rows => write!(f, "offset counts rows"),
            Unit::Pages { size } => write!(f, "offset counts pages of {size} rows"),
        }
    }
}

/// Starts again from offset 0 at most this many times in one pull.
pub const MAX_RESTARTS: u32 = 3;

/// How many rows of overlap a request asks for after a page of `len` rows.
pub fn overlap_of(len: usize) -> usize {
    (len / 10).max(8).min(len / 2)
}

/// Where a [`Paging`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Page 0 is asked for.
    First,
    /// Page 0 is read; `offset: 1` is asked for, to tell rows from pages.
    Probe,
    /// Counting rows: the next request starts at `offset`, `consumed` rows having been read
    /// through (the position after the last row read).
    Rows {
        offset: u64,
        consumed: u64,
    },
    /// Counting pages: page `page` is asked for the first time.
    Page {
        page: u64,
    },
    /// Counting pages: page `page` is read again, after the page following it; `end` when
    /// that one was empty.
    Again {
        page: u64,
        end: bool,
    },
    Done,
}

/// The paging rule of one pull (see the module notes).
#[derive(Debug)]
pub struct Paging {
    stage: Stage,
    /// What the client already knows `offset` counts.
    unit: Option<Unit>,
    /// Whether this pull found it (the client then keeps it).
    learned: bool,
    /// The ids of the last answer, in order, and the time of each row that could be read.
    last: Vec<String>,
    last_times: HashMap<String, DateTime<Utc>>,
    /// Pages: the ids of the last page read for the first time, and of the one before it
    /// (which the re-read must still overlap).
    page_ids: Vec<(String, Option<DateTime<Utc>>)>,
    reread_of: Vec<(String, Option<DateTime<Utc>>)>,
    /// Rows returned from the last two answers, with the time they had.
    seen: HashMap<String, DateTime<Utc>>,
    older: HashMap<String, DateTime<Utc>>,
    restarts: u32,
}

/// The pages no longer line up after [`MAX_RESTARTS`] starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsettled {
    pub restarts: u32,
}

impl Paging {
    /// A pull, with what the client already knows of the server's `offset`.
    pub fn new(unit: Option<Unit>) -> Paging {
        Paging {
            stage: Stage::First,
            unit,
            learned: false,
            last: Vec::new(),
            last_times: HashMap::new(),
            page_ids: Vec::new(),
            reread_of: Vec::new(),
            seen: HashMap::new(),
            older: HashMap::new(),
            restarts: 0,
        }
    }

    /// The `offset` to ask for next; `None` once every row has been read.
    pub fn next_offset(&self) -> Option<u64> {
        match &self.stage {
            Stage::First => Some(0),
            Stage::Probe => Some(1),
            Stage::Rows { offset, .. } => Some(*offset),
            Stage::Page { page } | Stage::Again { page, .. } => Some(*page),
            Stage::Done => None,
        }
    }

    /// What `offset` counts, when known; `true` when this pull found it out.
    pub fn unit(&self) -> (Option<Unit>, bool) {
        (self.unit, self.learned)
    }

    /// Ends the pull: nothing more is asked for.
    pub fn stop(&mut self) {
        self.stage = Stage::Done;
    }

    /// The answer to the request of [`Paging::next_offset`] (the key of each row in order,
    /// and the rows that could be read): the rows not returned before, or [`Unsettled`] when
    /// the pages kept moving.
    pub fn answer(
        &mut self,
        ids: Vec<String>,
        rows: Vec<RemoteRecord>,
    ) -> Result<Vec<RemoteRecord>, Unsettled> {
        let len = ids.len() as u64;
        let stamped: Vec<(String, Option<DateTime<Utc>>)> = {
            let times: HashMap<&str, DateTime<Utc>> = rows
                .iter()
                .map(|r| (r.id.as_str(), r.modified_at))
                .collect();
            ids.iter()
                .map(|id| (id.clone(), times.get(id.as_str()).copied()))
                .collect()
        };
        let last_stamped: Vec<(String, Option<DateTime<Utc>>)> = self
            .last
            .iter()
            .map(|id| (id.clone(), self.last_times.get(id).copied()))
            .collect();
        let in_last = |id: &String| self.last.contains(id);
        let first_known = ids.first().is_some_and(in_last);
        let rows_after = |offset: u64| {
            let consumed = offset + len;
            Stage::Rows {
                offset: consumed - overlap_of(len as usize) as u64,
                consumed,
            }
        };
        let mut restart = false;
        self.stage = match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Done => return Ok(Vec::new()),
            Stage::First if len == 0 => Stage::Done,
            Stage::First => match self.unit {
                Some(Unit::Rows) => rows_after(0),
                Some(Unit::Pages { .. }) => {
                    self.page_ids = stamped.clone();
                    Stage::Page { page: 1 }
                }
                None => Stage::Probe,
            },
            // Nothing at offset 1: under either reading page 0 was all, unless rows slipped
            // back into it in between: read it again.
            Stage::Probe if len == 0 => {
                self.reread_of = last_stamped.clone();
                Stage::Again { page: 0, end: true }
            }
            Stage::Probe if self.last.len() == 1 && len >= 2 => {
                // A page of two rows or more after a page of one: rows (a page would hold one).
                self.found(Unit::Rows);
                rows_after(1)
            }
            Stage::Probe if self.last.len() == 1 => {
                // Both readings asked for the same row: go on as pages of one row (which
                // rows of one are too), without taking it as found.
                self.reread_of = last_stamped.clone();
                self.page_ids = stamped.clone();
                Stage::Again {
                    page: 0,
                    end: false,
                }
            }
            Stage::Probe => match probe_verdict(&last_stamped, &stamped) {
                Verdict::Rows => {
                    self.found(Unit::Rows);
                    rows_after(1)
                }
                Verdict::Pages => {
                    self.found(Unit::Pages {
                        size: self.last.len(),
                    });
                    // Page 1 is read: page 0 again, for rows that slipped into it.
                    self.reread_of = last_stamped.clone();
                    self.page_ids = stamped.clone();
                    Stage::Again {
                        page: 0,
                        end: false,
                    }
                }
                Verdict::Unclear => {
                    restart = true;
                    Stage::Done
                }
            },
            Stage::Rows { offset, consumed } => {
                let overlap = consumed - offset;
                if overlap > 0 && !first_known {
                    restart = true;
                    Stage::Done
                } else if len <= overlap {
                    // Nothing beyond what was read already: the end.
                    Stage::Done
                } else {
                    rows_after(offset)
                }
            }
            Stage::Page { page } => {
                self.reread_of = std::mem::replace(&mut self.page_ids, stamped.clone());
                match page.checked_sub(1) {
                    None if len == 0 => Stage::Done,
                    None => Stage::Page { page: 1 },
                    Some(before) => Stage::Again {
                        page: before,
                        end: len == 0,
                    },
                }
            }
            Stage::Again { page, end } => {
                // A row of the first read still there unchanged.
                let kept = self.reread_of.iter().any(|r| stamped.contains(r));
                if !self.reread_of.is_empty() && !kept {
                    // A page or more slipped back (or changed) between the two reads.
                    restart = true;
                    Stage::Done
                } else if end {
                    Stage::Done
                } else {
                    Stage::Page { page: page + 2 }
                }
            }
        };
        self.last_times = rows.iter().map(|r| (r.id.clone(), r.modified_at)).collect();
        let fresh = self.fresh(rows);
        self.last = ids;
        if restart {
            self.restart()?;
        }
        Ok(fresh)
    }

    /// Starts the pull again from offset 0 (what was returned stays returned).
    fn restart(&mut self) -> Result<(), Unsettled> {
        self.restarts += 1;
        if self.restarts > MAX_RESTARTS {
            self.stage = Stage::Done;
            return Err(Unsettled {
                restarts: MAX_RESTARTS,
            });
        }
        self.stage = Stage::First;
        self.last.clear();
        self.last_times.clear();
        if self.learned {
            // What this pull took as found may be what the moving rows made it look like.
            self.unit = None;
            self.learned = false;
        }
        self.page_ids.clear();
        self.reread_of.clear();
        Ok(())
    }

    fn found(&mut self, unit: Unit) {
        if self.unit.is_none() {
            self.unit = Some(unit);
            self.learned = true;
        }
    }

    /// Rows not returned with the same time in the last two answers; remembers them.
    fn fresh(&mut self, rows: Vec<RemoteRecord>) -> Vec<RemoteRecord> {
        let mut this = HashMap::with_capacity(rows.len());
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let repeat = [&self.seen, &self.older, &this]
                .iter()
                .any(|m| m.get(&r.id) == Some(&r.modified_at));
            this.insert(r.id.clone(), r.modified_at);
            if !repeat {
                out.push(r);
            }
        }
        self.older = std::mem::replace(&mut self.seen, this);
        out
    }
}

/// What an answer at offset 1 says `offset` counts.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Rows,
    Pages,
    /// Rows moved in between so that neither reading's pattern shows.
    Unclear,
}

/// Reads the answer at offset 1 (`probe`) against page 0 (`first`, two rows or more), rows
/// matched by key and time (an edited row is another sighting: it may have moved to the end).
/// Counting rows, the answer starts with a row of the first half of page 0 (its second row,
/// unless rows were deleted or added before it). Counting pages, it starts with a row not in
/// page 0, or with the rows an insertion pushed out of page 0's end, then rows not in it.
fn probe_verdict(
    first: &[(String, Option<DateTime<Utc>>)],
    probe: &[(String, Option<DateTime<Utc>>)],
) -> Verdict {
    let n = first.len();
    let position = |row: &(String, Option<DateTime<Utc>>)| {
        row.1.and_then(|_| first.iter().position(|f| f == row))
    };
    let shared = probe.iter().filter(|r| position(r).is_some()).count();
    match probe.first().and_then(position) {
        Some(j) if j <= ((n - 1) / 2).max(1) => Verdict::Rows,
        None if shared == 0 => Verdict::Pages,
        Some(j) if shared == n - j && probe[..n - j] == first[j..] => Verdict::Pages,
        _ => Verdict::Unclear,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RecordKind;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashSet};

    /// A table served the way a reading says: rows in order, `offset` in rows or pages.
    struct Table {
        rows: Vec<(String, i64)>,
        pages: bool,
        size: usize,
        clock: i64,
    }

    impl Table {
        fn new(n: usize, pages: bool, size: usize) -> Table {
            Table {
                rows: (0..n).map(|i| (format!("r{i:03}"), 0)).collect(),
                pages,
                size,
                clock: 0,
            }
        }

        fn select(&self, offset: u64) -> (Vec<String>, Vec<RemoteRecord>) {
            let skip = if self.pages {
                offset as usize * self.size
            } else {
                offset as usize
            };
            let page: Vec<_> = self.rows.iter().skip(skip).take(self.size).collect();
            let records = page
                .iter()
                .map(|(id, t)| RemoteRecord {
                    kind: RecordKind::WeavyContact,
                    id: id.clone(),
                    modified_at: DateTime::from_timestamp(*t, 0).unwrap(),
                    fields: BTreeMap::new(),
                    anonymous: false,
                })
                .collect();
            (page.iter().map(|(id, _)| id.clone()).collect(), records)
        }

        /// An edit: the row gets a new time and moves to the end (modification order).
        fn edit(&mut self, i: usize) {
            if self.rows.is_empty() {
                return;
            }
            let mut r = self.rows.remove(i % self.rows.len());
            self.clock += 1;
            r.1 = self.clock;
            self.rows.push(r);
        }

        fn delete(&mut self, i: usize) {
            if !self.rows.is_empty() {
                self.rows.remove(i % self.rows.len());
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Change {
        None,
        Edit(usize),
        Delete(usize),
    }

    fn change() -> impl Strategy<Value = Change> {
        prop_oneof![
            6 => Just(Change::None),
            2 => (0usize..64).prop_map(Change::Edit),
            1 => (0usize..64).prop_map(Change::Delete),
        ]
    }

    /// Runs a pull against `table`, applying one change before each request; the ids
    /// returned, or Unsettled.
    fn pull(
        table: &mut Table,
        known: Option<Unit>,
        changes: &[Change],
    ) -> (Result<HashSet<String>, Unsettled>, Paging, usize) {
        let mut paging = Paging::new(known);
        let mut got = HashSet::new();
        let mut requests = 0;
        while let Some(offset) = paging.next_offset() {
            match changes.get(requests).cloned().unwrap_or(Change::None) {
                Change::None => {}
                Change::Edit(i) => table.edit(i),
                Change::Delete(i) => table.delete(i),
            }
            requests += 1;
            assert!(requests < 10_000, "the pull does not end");
            let (ids, records) = table.select(offset);
            match paging.answer(ids, records) {
                Ok(fresh) => got.extend(fresh.into_iter().map(|r| r.id)),
                Err(u) => return (Err(u), paging, requests),
            }
        }
        (Ok(got), paging, requests)
    }

    #[test]
    fn a_quiet_table_is_read_whole_under_either_reading() {
        for pages in [false, true] {
            for size in [1, 2, 3, 7, 50] {
                for n in [0, 1, 2, 3, 10, 49, 50, 51, 120] {
                    let mut t = Table::new(n, pages, size);
                    let (got, paging, _) = pull(&mut t, None, &[]);
                    let got = got.unwrap();
                    assert_eq!(got.len(), n, "pages {pages}, size {size}, rows {n}");
                    let (unit, _) = paging.unit();
                    if n > size && size >= 2 {
                        let want = if pages {
                            Unit::Pages { size }
                        } else {
                            Unit::Rows
                        };
                        assert_eq!(unit, Some(want), "pages {pages}, size {size}, rows {n}");
                    }
                    // Known from the start, the same rows again.
                    let mut t = Table::new(n, pages, size);
                    let (again, _, _) = pull(&mut t, unit, &[]);
                    assert_eq!(again.unwrap().len(), n);
                }
            }
        }
    }

    #[test]
    fn a_row_that_slips_back_during_paging_is_read() {
        // Counting rows, 3 a page: after page 0 a row of it is edited (moves to the end), so
        // every later row moves back by one.
        for pages in [false, true] {
            let mut t = Table::new(9, pages, 3);
            let changes = [Change::None, Change::Edit(0)];
            let (got, _, _) = pull(&mut t, None, &changes);
            assert_eq!(got.unwrap().len(), 9, "pages {pages}");
        }
    }

    #[test]
    fn the_overlap_is_half_a_page_at_most_and_a_tenth_at_least_8() {
        assert_eq!(overlap_of(1), 0);
        assert_eq!(overlap_of(3), 1);
        assert_eq!(overlap_of(16), 8);
        assert_eq!(overlap_of(100), 10);
        assert_eq!(overlap_of(1000), 100);
    }

    proptest! {
        /// Whatever is edited (moved to the end) or deleted while a table is paged through,
        /// every row that is there at the end was returned, under either reading and any page size (of two
        /// rows or more when `offset` counts rows: see the module notes), or the pull says
        /// the rows would not settle.
        #[test]
        fn no_row_is_skipped(
            n in 0usize..60,
            (pages, size) in any::<bool>().prop_flat_map(|p| (Just(p), if p { 1usize..12 } else { 2usize..12 })),
            known in any::<bool>(),
            changes in proptest::collection::vec(change(), 0..40),
        ) {
            let unit = known.then_some(if pages { Unit::Pages { size } } else { Unit::Rows });
            let mut t = Table::new(n, pages, size);
            let (got, _, requests) = pull(&mut t, unit, &changes);
            let applied = changes.iter().take(requests).filter(|c| !matches!(c, Change::None)).count();
            match got {
                Ok(got) => {
                    for (id, _) in &t.rows {
                        prop_assert!(got.contains(id), "{id} was skipped; got {got:?}");
                    }
                }
                // Each start again needs a change to cause it.
                Err(u) => prop_assert!(applied > u.restarts as usize, "{applied} change(s), {u:?}"),
            }
        }
    }
}
