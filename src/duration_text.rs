//! Durations as the configuration and the command line write them: `15m`, `90s`, `1h30m`,
//! `500ms`, `7d`, `2w`; and the serde helpers that read and write them so. A leaf: the
//! configuration and the HTTP layer both use it.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let bad = || format!("'{s}' is not a duration: write e.g. 15m, 90s, 1h, 1h30m, 500ms or 7d");
    if t.is_empty() {
        return Err(bad());
    }
    // "0" needs no unit (it turns a period off, e.g. `sync.full_every`).
    if t.bytes().all(|b| b == b'0') {
        return Ok(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86_400)),
            "w" => Duration::from_secs(n.saturating_mul(7 * 86_400)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(d);
    }
    Ok(total)
}

/// The shortest time between two cycles: each cycle reads both servers.
pub const MIN_PERIOD: Duration = Duration::from_secs(1);

/// A time between cycles (`run --every`, `sync.period`): a duration of at least
/// [`MIN_PERIOD`].
pub fn parse_period(s: &str) -> Result<Duration, String> {
    let d = parse(s)?;
    if d < MIN_PERIOD {
        return Err(format!(
            "'{s}' is too short a time between cycles: at least {} (each cycle reads both servers)",
            format(MIN_PERIOD)
        ));
    }
    Ok(d)
}

pub fn format(d: Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() != 0 && s == 0 {
        format!("{}ms", d.as_millis())
    } else if s % 3600 == 0 && s > 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 && s > 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}
