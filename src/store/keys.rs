//! Key layouts. Keys sort the way the store scans them: a record's observations by field then
//! time, conflicts by time, the outbox by side, table and entity.

use super::StoreError;
use crate::model::{EntityId, RecordKind, RecordRef, Side};

/// A record: `[kind][id length: u16 BE][id]`. Length-prefixed so that one record's key is never
/// a prefix of another's ("C1" and "C10").
pub fn record(r: &RecordRef) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + r.id.len());
    push_record(&mut k, r);
    k
}

fn push_record(k: &mut Vec<u8>, r: &RecordRef) {
    let id = r.id.as_bytes();
    let len = u16::try_from(id.len()).unwrap_or(u16::MAX);
    k.push(r.kind.code());
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(&id[..len as usize]);
}

/// Reads a record key back; returns the record and the rest of the key.
pub fn parse_record(k: &[u8]) -> Result<(RecordRef, &[u8]), StoreError> {
    let bad = || StoreError::Corrupt {
        what: "record key",
        detail: format!("{} bytes", k.len()),
    };
    if k.len() < 3 {
        return Err(bad());
    }
    let kind = RecordKind::from_code(k[0]).ok_or_else(bad)?;
    let len = u16::from_be_bytes([k[1], k[2]]) as usize;
    let id = k.get(3..3 + len).ok_or_else(bad)?;
    let id = std::str::from_utf8(id).map_err(|_| bad())?;
    Ok((RecordRef::new(kind, id), &k[3 + len..]))
}

/// Time in microseconds as 8 bytes that sort in time order (sign bit flipped).
pub fn time(us: i64) -> [u8; 8] {
    ((us as u64) ^ (1 << 63)).to_be_bytes()
}

pub fn parse_time(b: &[u8]) -> Option<i64> {
    let arr: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(arr) ^ (1 << 63)) as i64)
}

/// A sighting's observations: `[record][time][content hash: u32 BE]`. One entry holds every
/// field whose value changed in that sighting, so a record's history reads in time order and a
/// first sync writes one entry per record, not one per field. The hash keeps two different
/// sightings at the same instant apart; the same sighting delivered twice is the same key.
pub fn observations(r: &RecordRef, at_us: i64, content_hash: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(15 + r.id.len());
    push_record(&mut k, r);
    k.extend_from_slice(&time(at_us));
    k.extend_from_slice(&content_hash.to_be_bytes());
    k
}

/// Reads the time of an observations key (after its record).
pub fn parse_observations_rest(rest: &[u8]) -> Result<i64, StoreError> {
    parse_time(rest).ok_or_else(|| StoreError::Corrupt {
        what: "observation key",
        detail: format!("{} bytes after the record", rest.len()),
    })
}

/// The company index holds two kinds of entries: by the configured key, and by name.
pub const COMPANY_KEY: u8 = b'k';
pub const COMPANY_NAME: u8 = b'n';

/// A company index entry: `[k or n][normalised key][0][record]`.
pub fn company_index(tag: u8, key: &str, r: &RecordRef) -> Vec<u8> {
    let mut k = company_index_prefix(tag, key);
    push_record(&mut k, r);
    k
}

pub fn company_index_prefix(tag: u8, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 17);
    k.push(tag);
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k
}

/// An index entry: `[normalised key][0][record]`.
pub fn index(key: &str, r: &RecordRef) -> Vec<u8> {
    let mut k = index_prefix(key);
    push_record(&mut k, r);
    k
}

pub fn index_prefix(key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 16);
    k.extend_from_slice(key.as_bytes());
    k.push(0);
    k
}

pub fn entity(id: EntityId) -> [u8; 8] {
    id.0.to_be_bytes()
}

pub fn parse_entity(b: &[u8]) -> Result<EntityId, StoreError> {
    let arr: [u8; 8] = b.try_into().map_err(|_| StoreError::Corrupt {
        what: "entity id",
        detail: format!("{} bytes", b.len()),
    })?;
    Ok(EntityId(u64::from_be_bytes(arr)))
}

/// An outbox slot: `[side][kind][entity]`. One patch per record at a time: a newer merge
/// replaces the pending patch.
pub fn outbox(kind: RecordKind, entity: EntityId) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = kind.side().code();
    k[1] = kind.code();
    k[2..].copy_from_slice(&entity.0.to_be_bytes());
    k
}

pub fn outbox_side_prefix(side: Side) -> [u8; 1] {
    [side.code()]
}

/// A conflict entry: `[time][sequence]`, so a time range is a key range.
pub fn conflict(at_us: i64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&time(at_us));
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// A cursor: `[kind]`.
pub fn cursor(kind: RecordKind) -> [u8; 1] {
    [kind.code()]
}

/// A 32-bit FNV-1a hash, for observation keys. Stable across builds and platforms (unlike
/// `std`'s hasher), which is what a persisted key needs. Feed it with [`Fnv::write`].
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u32);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0x811c_9dc5)
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u32;
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
        // A separator, so ("ab","c") and ("a","bc") differ.
        self.0 ^= 0xff;
        self.0 = self.0.wrapping_mul(0x0100_0193);
    }

    pub fn finish(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_keys_are_not_prefixes_of_each_other() {
        let a = record(&RecordRef::new(RecordKind::WeavyContact, "C1"));
        let b = record(&RecordRef::new(RecordKind::WeavyContact, "C10"));
        assert!(!b.starts_with(&a));
        let (r, rest) = parse_record(&b).unwrap();
        assert_eq!(r.id, "C10");
        assert!(rest.is_empty());
    }

    #[test]
    fn times_sort_in_order_across_the_epoch() {
        let ts = [-5_000_000i64, -1, 0, 1, 1_700_000_000_000_000];
        for w in ts.windows(2) {
            assert!(time(w[0]) < time(w[1]));
            assert_eq!(parse_time(&time(w[0])), Some(w[0]));
        }
    }

    #[test]
    fn observation_keys_sort_by_record_then_time() {
        let r = RecordRef::new(RecordKind::MauticContact, "47");
        let a = observations(&r, 5, 9);
        let b = observations(&r, 7, 1);
        let c = observations(&RecordRef::new(RecordKind::MauticContact, "48"), 1, 1);
        assert!(a < b && b < c);
        let (_, rest) = parse_record(&b).unwrap();
        assert_eq!(parse_observations_rest(rest).unwrap(), 7);
    }

    #[test]
    fn the_content_hash_separates_fields() {
        let h = |parts: &[&str]| {
            let mut f = Fnv::default();
            parts.iter().for_each(|p| f.write(p.as_bytes()));
            f.finish()
        };
        assert_ne!(h(&["ab", "c"]), h(&["a", "bc"]));
        assert_eq!(h(&["x", "y"]), h(&["x", "y"]));
    }
}
