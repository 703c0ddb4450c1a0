//! The configuration parser on arbitrary text: `Config::parse` returns a configuration or a
//! `ConfigError`, never panics, and what it accepts can be used (the tables, the mappings and
//! their policies, the limits, the check against empty field lists).

#![no_main]

use fieldsync::config::Config;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text) {
        Ok(c) => {
            assert!(c.check().is_empty());
            for kind in c.kinds() {
                for m in c.mappings(kind) {
                    let _ = m.code(kind);
                    let _ = m.policy(&c.sync);
                }
            }
            let _ = c.value_limits();
            // What the pull and the merge compute from the durations stays in range.
            let overlap = chrono::Duration::from_std(c.sync.overlap_window).unwrap();
            let _ = chrono::Utc::now() - overlap;
            assert!(i64::try_from(c.sync.tie_window.as_micros()).is_ok());
            let _ = c.time_zone();
            let _ = c.validate_fields(&BTreeMap::new());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
