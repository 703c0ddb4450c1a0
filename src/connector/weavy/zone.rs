//! The zone of weavy's `srvDate`, and the filter value that misses nothing.
//!
//! `API-NOTES.md` ("Reading"): `srvDate` is server time with no zone, and which zone a
//! `srvDate` filter compares in is **unknown**: the zone `srvDate` is shown in, or UTC. Every
//! row carries `srvDate` and `srvDateUTC`; their difference is the offset of the zone the
//! server shows (`StoredZone`, learned from the rows the client reads).
//!
//! Which zone a filter compares in is found by asking ([`filter_probe`]): one row whose
//! `srvDate` and `srvDateUTC` walls differ, filtered by its key and by a `srvDate` half-way
//! between them, matches under one reading and not the other. Until it is found (no such
//! row yet, e.g. a project in UTC),
//! [`filter_value`] sends the earliest wall time any reading could compare with: the cursor
//! as UTC, as the project's wall time (one fold earlier in the first pass of an autumn fold,
//! where the second pass has lower wall times), and at every offset seen between `srvDate`
//! and `srvDateUTC` that the project's zone does not have, less one second (a server that
//! keeps whole seconds would otherwise miss a record changed in the cursor's own second).
//! Rows read twice cost little; a row missed is an edit lost, since the cursor moves on.
//! [`until_value`] ends a pull at its start the same way, earliest wall first.

use chrono::{DateTime, Datelike, LocalResult, Offset, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;

/// What the rows said about the zone `srvDate` is shown in: each offset seen (seconds east
/// of UTC) and on how many rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredZone {
    pub offsets: BTreeMap<i32, u64>,
}

impl StoredZone {
    /// One row's pair of stamps.
    pub fn observe(&mut self, srv_date_wall: chrono::NaiveDateTime, srv_date_utc: DateTime<Utc>) {
        let offset = (srv_date_wall - srv_date_utc.naive_utc()).num_seconds();
        // Offsets are whole quarter hours; anything else is two stamps taken apart.
        if offset % 900 == 0 && offset.abs() <= 14 * 3600 {
            *self.offsets.entry(offset as i32).or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: &StoredZone) {
        for (o, n) in &other.offsets {
            *self.offsets.entry(*o).or_default() += n;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Whether every offset seen is one the project's zone has at some time of the year
    /// (rows seen at different times of year show both of a zone with summer time).
    pub fn fits(&self, tz: Tz) -> bool {
        let year = Utc::now().date_naive();
        let offsets_of_tz: Vec<i32> = (0..12)
            .filter_map(|m| {
                let day = year.with_day0(0)?.with_month0(m)?;
                let t = day.and_hms_opt(12, 0, 0)?.and_utc();
                Some(
                    tz.offset_from_utc_datetime(&t.naive_utc())
                        .fix()
                        .local_minus_utc(),
                )
            })
            .collect();
        self.offsets.keys().all(|o| offsets_of_tz.contains(o))
    }

    /// What `fieldsync check` says about it.
    pub fn describe(&self, tz: Tz) -> String {
        if self.offsets.is_empty() {
            return "srvDate: no row read yet, its zone is not known".into();
        }
        let list: Vec<String> = self
            .offsets
            .iter()
            .map(|(o, n)| format!("{} ({n} row(s))", utc_offset(*o)))
            .collect();
        let verdict = if self.offsets.keys().all(|o| *o == 0) {
            "UTC".to_owned()
        } else if self.fits(tz) {
            format!("the project's zone, {tz}")
        } else {
            format!(
                "a zone other than the configured {tz}: filters allow for it, but set weavy.time_zone to the project's zone"
            )
        };
        format!("srvDate is shown at {}: {verdict}", list.join(", "))
    }
}

fn utc_offset(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.abs();
    format!("UTC{sign}{:02}:{:02}", s / 3600, (s % 3600) / 60)
}

/// Which zone a `srvDate` filter compares in, once found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterZone {
    /// The zone `srvDate` is shown in.
    Shown,
    Utc,
}

impl FilterZone {
    /// What an answer to the probe of [`filter_probe`] says: the row matched or not, its
    /// `srvDate` being `offset` seconds east of its `srvDateUTC`.
    pub fn from_probe(offset: i32, matched: bool) -> FilterZone {
        if (offset > 0) == matched {
            FilterZone::Shown
        } else {
            FilterZone::Utc
        }
    }
}

impl std::fmt::Display for FilterZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FilterZone::Shown => "a srvDate filter compares in the zone srvDate is shown in",
            FilterZone::Utc => "a srvDate filter compares in UTC",
        })
    }
}

/// The value of a `srvDate GreaterThan` filter that tells the two readings apart on one row
/// whose `srvDate` is `offset` seconds (not 0) east of its `srvDateUTC`: half-way between the
/// two walls. Compared in the shown zone the row matches when the offset is east.
pub fn filter_probe(srv_date_utc: DateTime<Utc>, offset: i32) -> String {
    let half = chrono::Duration::seconds((offset / 2).into());
    (srv_date_utc.naive_utc() + half)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The walls a `srvDate` filter could compare `t` with, under each reading still possible:
/// UTC, and the shown zone (the project's zone, one fold earlier in the first pass of an
/// autumn fold when `lower`; and every offset rows showed that the project's zone does not
/// have).
fn walls(
    t: DateTime<Utc>,
    tz: Tz,
    seen: &StoredZone,
    filter: Option<FilterZone>,
    lower: bool,
) -> Vec<chrono::NaiveDateTime> {
    let mut out = Vec::new();
    if filter != Some(FilterZone::Shown) {
        out.push(t.naive_utc());
    }
    if filter != Some(FilterZone::Utc) {
        if seen.is_empty() || seen.fits(tz) {
            out.push(if lower {
                project_wall(t, tz)
            } else {
                t.with_timezone(&tz).naive_local()
            });
        } else {
            out.extend(
                seen.offsets
                    .keys()
                    .map(|o| t.naive_utc() + chrono::Duration::seconds((*o).into())),
            );
        }
    }
    out
}

/// The `srvDate GreaterThan` value for "changed since `since`" (see the module notes): the
/// earliest wall any reading still possible compares with, one second early.
pub fn filter_value(
    since: DateTime<Utc>,
    tz: Tz,
    seen: &StoredZone,
    filter: Option<FilterZone>,
) -> String {
    let t = since.trunc_subsecs(0) - chrono::Duration::seconds(1);
    let earliest = walls(t, tz, seen, filter, true)
        .into_iter()
        .min()
        .expect("one reading at least");
    earliest.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The `srvDate LessThan` value that ends a pull at `until`: the earliest wall any reading
/// still possible compares with, so that no record changed after `until` is in the pull
/// (records edited or added while it pages then leave it, never join it: every shift of
/// the rows is backwards, which the paging rule catches). A record this excludes under a
/// reading that is not the server's is read by the next pull, which starts at `until`.
pub fn until_value(
    until: DateTime<Utc>,
    tz: Tz,
    seen: &StoredZone,
    filter: Option<FilterZone>,
) -> String {
    let earliest = walls(until.trunc_subsecs(0), tz, seen, filter, false)
        .into_iter()
        .min()
        .expect("one reading at least");
    earliest.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The project's wall time of `t`, one fold earlier in the first pass of an autumn fold.
fn project_wall(t: DateTime<Utc>, tz: Tz) -> chrono::NaiveDateTime {
    let mut naive = t.with_timezone(&tz).naive_local();
    if let LocalResult::Ambiguous(a, b) = tz.from_local_datetime(&naive) {
        let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
        let (early, late) = (a.min(b), a.max(b));
        if t == early {
            naive -= late - early;
        }
    }
    naive
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;
    use chrono_tz::{America::Toronto, Europe::Paris};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn wall(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn east_of_utc_the_filter_is_the_utc_wall_time_a_second_early() {
        let none = StoredZone::default();
        assert_eq!(
            filter_value(utc("2024-06-01T10:00:00.700Z"), Paris, &none, None),
            "2024-06-01 09:59:59"
        );
    }

    #[test]
    fn west_of_utc_the_filter_is_the_project_wall_time() {
        let none = StoredZone::default();
        assert_eq!(
            filter_value(utc("2024-06-01T10:00:00Z"), Toronto, &none, None),
            "2024-06-01 05:59:59"
        );
    }

    #[test]
    fn in_the_first_pass_of_a_fold_the_filter_goes_back_a_fold() {
        let none = StoredZone::default();
        // 01:30 EDT (05:30 UTC) on 2024-11-03, the first pass of Toronto's fold.
        assert_eq!(
            filter_value(utc("2024-11-03T05:30:01Z"), Toronto, &none, None),
            "2024-11-03 00:30:00"
        );
    }

    #[test]
    fn the_project_wall_time_goes_back_a_fold_in_its_first_pass() {
        let w = |s: &str| {
            project_wall(utc(s), Paris)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        };
        // Summer: UTC+2; winter: UTC+1.
        assert_eq!(w("2024-07-01T10:00:00Z"), "2024-07-01 12:00:00");
        assert_eq!(w("2024-01-15T10:00:00Z"), "2024-01-15 11:00:00");
        // 00:30 UTC is 02:30 CEST, the first pass of 27 Oct 2024's repeated hour.
        assert_eq!(w("2024-10-27T00:30:00Z"), "2024-10-27 01:30:00");
        // 01:30 UTC is 02:30 CET, the second pass: nothing later is lower.
        assert_eq!(w("2024-10-27T01:30:00Z"), "2024-10-27 02:30:00");
        // Spring gap: 01:30 UTC is 03:30 CEST.
        assert_eq!(w("2024-03-31T01:30:00Z"), "2024-03-31 03:30:00");
    }

    #[test]
    fn an_offset_seen_on_rows_is_allowed_for() {
        let mut seen = StoredZone::default();
        seen.observe(wall("2024-06-01 05:00:00"), utc("2024-06-01T10:00:00Z"));
        assert_eq!(
            seen.offsets.keys().copied().collect::<Vec<_>>(),
            vec![-5 * 3600]
        );
        assert!(!seen.fits(Paris));
        assert_eq!(
            filter_value(utc("2024-06-01T10:00:00Z"), Paris, &seen, None),
            "2024-06-01 04:59:59"
        );
        assert!(
            seen.describe(Paris).contains("UTC-05:00"),
            "{}",
            seen.describe(Paris)
        );
    }

    #[test]
    fn once_the_filter_zone_is_known_only_its_wall_is_sent() {
        let none = StoredZone::default();
        let t = utc("2024-06-01T10:00:00Z");
        assert_eq!(
            filter_value(t, Paris, &none, Some(FilterZone::Shown)),
            "2024-06-01 11:59:59"
        );
        assert_eq!(
            filter_value(t, Paris, &none, Some(FilterZone::Utc)),
            "2024-06-01 09:59:59"
        );
        assert_eq!(
            until_value(t, Paris, &none, Some(FilterZone::Shown)),
            "2024-06-01 12:00:00"
        );
        assert_eq!(until_value(t, Paris, &none, None), "2024-06-01 10:00:00");
        assert_eq!(until_value(t, Toronto, &none, None), "2024-06-01 06:00:00");
    }

    #[test]
    fn the_probe_value_lies_between_the_two_walls() {
        // A row at 10:00 UTC shown at 12:00 (UTC+2): the probe filters on 11:00.
        assert_eq!(
            filter_probe(utc("2024-06-01T10:00:00Z"), 7200),
            "2024-06-01 11:00:00"
        );
        assert_eq!(FilterZone::from_probe(7200, true), FilterZone::Shown);
        assert_eq!(FilterZone::from_probe(7200, false), FilterZone::Utc);
        // West of UTC (shown at 05:00 for 10:00 UTC), the probe is 07:30: only UTC's 10:00 is later.
        assert_eq!(
            filter_probe(utc("2024-06-01T10:00:00Z"), -5 * 3600),
            "2024-06-01 07:30:00"
        );
        assert_eq!(FilterZone::from_probe(-5 * 3600, true), FilterZone::Utc);
        assert_eq!(FilterZone::from_probe(-5 * 3600, false), FilterZone::Shown);
    }

    #[test]
    fn summer_and_winter_offsets_fit_the_project_zone() {
        let mut seen = StoredZone::default();
        seen.observe(wall("2024-06-01 12:00:00"), utc("2024-06-01T10:00:00Z"));
        seen.observe(wall("2024-01-01 11:00:00"), utc("2024-01-01T10:00:00Z"));
        assert!(seen.fits(Paris));
        assert!(seen.describe(Paris).contains("project's zone"));
        let mut utc_only = StoredZone::default();
        utc_only.observe(wall("2024-06-01 10:00:00"), utc("2024-06-01T10:00:00Z"));
        assert!(utc_only.describe(Paris).ends_with("UTC"));
        // Two stamps taken a few seconds apart say nothing of a zone.
        let mut odd = StoredZone::default();
        odd.observe(wall("2024-06-01 10:00:03"), utc("2024-06-01T10:00:00Z"));
        assert!(odd.is_empty());
    }
}
