//! The store codec's decoder on arbitrary bytes, as every stored type: each decode returns
//! the value or a `StoreError`, never panics nor allocates beyond the codec's limit, and a
//! value that decodes re-encodes to bytes that decode to the same value.

#![no_main]

use fieldsync::store::codec::{
    self, StoredConflict, StoredEntity, StoredObservations, StoredPatch, StoredRecord,
};
use fieldsync::store::keys;
use fieldsync::sync::CycleReport;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<T> {
    let v: T = codec::decode(data, "fuzzed value").ok()?;
    let again: T = codec::decode(&codec::encode(&v), "re-encoded value")
        .expect("what decodes re-encodes");
    // NaN is the one value not equal to itself.
    if format!("{v:?}").contains("NaN") {
        return Some(v);
    }
    assert_eq!(v, again);
    Some(v)
}

fuzz_target!(|data: &[u8]| {
    if let Some(r) = round_trip::<StoredRecord>(data) {
        for f in &r.fields {
            let _ = f.observation();
        }
    }
    round_trip::<StoredObservations>(data);
    if let Some(e) = round_trip::<StoredEntity>(data) {
        let _ = codec::entity_kind_from(e.kind, "entity");
        for r in e.weavy.iter().chain(e.mautic.iter()) {
            let _ = r.to_ref("entity");
        }
    }
    if let Some(p) = round_trip::<StoredPatch>(data) {
        let _ = p.into_patch();
    }
    if let Some(c) = round_trip::<StoredConflict>(data) {
        if let Ok(entry) = c.into_entry() {
            let _ = serde_json::to_string(&entry);
        }
    }
    let _ = codec::decode::<CycleReport>(data, "cycle report");
    let _ = keys::parse_record(data);
    let _ = keys::parse_entity(data);
    let _ = keys::parse_time(data);
});
