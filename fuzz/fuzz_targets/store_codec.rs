//! The store codec's decoder on arbitrary bytes, as every stored type: each decode returns
//! the value or a `StoreError`, never panics nor allocates beyond the codec's limit, and a
//! value that decodes re-encodes to bytes that decode to the same value.

#![no_main]

use fieldsync::store::codec::{
    self, MemoryFieldIds, StoredConflict, StoredEntity, StoredObservations, StoredPatch,
    StoredRecord,
};
use fieldsync::store::keys;
use fieldsync::sync::CycleReport;
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// NaN is the one value not equal to itself.
fn same<T: PartialEq + std::fmt::Debug>(v: &T, again: &T) {
    if !format!("{v:?}").contains("NaN") {
        assert_eq!(v, again);
    }
}

/// A serde type of the codec: decode, re-encode, decode again to the same value.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<T> {
    let v: T = codec::decode(data, "fuzzed value").ok()?;
    let again: T = codec::decode(&codec::encode(&v), "re-encoded value")
        .expect("what decodes re-encodes");
    same(&v, &again);
    Some(v)
}

/// A type stored with field numbers (format 2): decoded against a dictionary that knows a
/// few names (an unknown number is an error, never a panic), re-encoded and decoded again.
fn numbered<T: PartialEq + std::fmt::Debug>(
    data: &[u8],
    decode: fn(&[u8], &dyn codec::FieldIds) -> Result<T, fieldsync::store::StoreError>,
    encode: fn(&T, &dyn codec::FieldIds) -> Result<Vec<u8>, fieldsync::store::StoreError>,
) -> Option<T> {
    let ids = MemoryFieldIds::with_names(["email", "firstname", "company", "npai"].map(String::from));
    let v = decode(data, &ids).ok()?;
    let bytes = encode(&v, &ids).expect("what decodes re-encodes");
    let again = decode(&bytes, &ids).expect("what is encoded decodes");
    same(&v, &again);
    Some(v)
}

fuzz_target!(|data: &[u8]| {
    if let Some(r) = numbered::<StoredRecord>(data, codec::decode_record, codec::encode_record) {
        for f in &r.fields {
            let _ = f.observation();
        }
    }
    numbered::<StoredObservations>(data, codec::decode_observations, codec::encode_observations);
    if let Some(e) = numbered::<StoredEntity>(data, codec::decode_entity, codec::encode_entity) {
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
