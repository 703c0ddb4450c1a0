//! The field dictionary: the number each field name has in stored values (see
//! [`codec::FieldIds`]).
//!
//! It lives in the `meta` tree, one entry a name (`field/` and the number, big-endian), and in
//! memory once the database is open. A number is given the first time a name is stored and is
//! never reused nor renumbered: a name is written to the dictionary before any value that uses
//! its number, and sled makes writes durable in the order they were made, so a value read
//! back always finds its names.

use super::StoreError;
use super::codec::{self, FieldIds};
use std::collections::HashMap;
use std::sync::RwLock;

const PREFIX: &[u8] = b"field/";

#[derive(Debug)]
pub(crate) struct FieldDictionary {
    meta: sled::Tree,
    names: RwLock<Names>,
    /// Why the dictionary could not be read whole. The database is then damaged (see
    /// [`super::Store::open_to_salvage`]): what was read still names values, and no name gets
    /// a new number, which could be one the damaged part already gave.
    damage: Option<String>,
}

#[derive(Debug, Default)]
struct Names {
    ids: HashMap<String, u32>,
    /// By number.
    names: Vec<String>,
}

const WHAT: &str = "field dictionary";

/// Reads the names in number order, stopping at the first that cannot be read.
fn read(meta: &sled::Tree, names: &mut Names) -> Result<(), StoreError> {
    for kv in meta.scan_prefix(PREFIX) {
        let (k, v) = kv?;
        let id = k[PREFIX.len()..]
            .try_into()
            .map(u32::from_be_bytes)
            .map_err(|_| StoreError::Corrupt {
                what: WHAT,
                detail: format!("a key of {} bytes", k.len()),
            })?;
        // Keys come in number order: the numbers are 0, 1, 2... without a gap.
        if id as usize != names.names.len() {
            return Err(StoreError::Corrupt {
                what: WHAT,
                detail: format!("field number {id} follows {}", names.names.len()),
            });
        }
        let name: String = codec::decode(&v, WHAT)?;
        names.ids.insert(name.clone(), id);
        names.names.push(name);
    }
    Ok(())
}

fn key(id: u32) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

impl FieldDictionary {
    /// Reads the dictionary of an open database, as far as it can be read (see `damage`).
    pub(crate) fn load(meta: sled::Tree) -> FieldDictionary {
        let mut names = Names::default();
        let damage = read(&meta, &mut names).err().map(|e| e.to_string());
        FieldDictionary {
            meta,
            names: RwLock::new(names),
            damage,
        }
    }

    /// Why the dictionary could not be read whole, if it could not.
    pub(crate) fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// Every field name the database has stored a value of.
    pub(crate) fn names(&self) -> Vec<String> {
        self.names
            .read()
            .expect("no panic holds the lock")
            .names
            .clone()
    }

    /// The number of names in the dictionary.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.names
            .read()
            .expect("no panic holds the lock")
            .names
            .len()
    }
}

/// The dictionary as a sled transaction may use it (see [`FieldDictionary::in_transaction`]):
/// a name without a number cannot get one there (the dictionary's write would wait for the
/// transaction's lock), so it is noted and the encoding fails. Only a value written by format 1
/// can hold such a name.
pub(crate) struct InTransaction<'a> {
    dictionary: &'a FieldDictionary,
    missing: std::cell::RefCell<Vec<String>>,
}

impl InTransaction<'_> {
    /// Numbers the names the last run of the transaction met without a number; false when
    /// there were none (the transaction's error is its own).
    fn number_missing(&self) -> Result<bool, StoreError> {
        let missing = std::mem::take(&mut *self.missing.borrow_mut());
        for name in &missing {
            self.dictionary.id(name)?;
        }
        Ok(!missing.is_empty())
    }
}

impl FieldIds for InTransaction<'_> {
    fn id(&self, name: &str) -> Result<u32, StoreError> {
        if let Some(id) = self.dictionary.known(name) {
            return Ok(id);
        }
        self.missing.borrow_mut().push(name.to_owned());
        Err(StoreError::Corrupt {
            what: WHAT,
            detail: format!("the field {name} has no number yet"),
        })
    }

    fn name(&self, id: u32, what: &'static str) -> Result<String, StoreError> {
        self.dictionary.name(id, what)
    }
}

impl FieldDictionary {
    /// Runs `transaction`, a sled transaction that encodes or decodes with the dictionary it is
    /// given: when it failed on names without a number, they are numbered and it runs again.
    pub(crate) fn in_transaction<T>(
        &self,
        transaction: impl Fn(&InTransaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let ids = InTransaction {
            dictionary: self,
            missing: Default::default(),
        };
        loop {
            match transaction(&ids) {
                Err(_) if ids.number_missing()? => continue,
                done => return done,
            }
        }
    }

    /// The number of a name, if it has one.
    fn known(&self, name: &str) -> Option<u32> {
        self.names
            .read()
            .expect("no panic holds the lock")
            .ids
            .get(name)
            .copied()
    }
}

impl FieldIds for FieldDictionary {
    fn id(&self, name: &str) -> Result<u32, StoreError> {
        if let Some(id) = self.known(name) {
            return Ok(id);
        }
        if let Some(detail) = &self.damage {
            return Err(StoreError::Corrupt {
                what: WHAT,
                detail: detail.clone(),
            });
        }
        let mut names = self.names.write().expect("no panic holds the lock");
        if let Some(&id) = names.ids.get(name) {
            return Ok(id);
        }
        let id = u32::try_from(names.names.len()).expect("fewer than 2^32 field names");
        // Stored before the number is handed out, so before any value that uses it.
        self.meta.insert(key(id), codec::encode(&name))?;
        names.ids.insert(name.to_owned(), id);
        names.names.push(name.to_owned());
        Ok(id)
    }

    fn name(&self, id: u32, what: &'static str) -> Result<String, StoreError> {
        self.names
            .read()
            .expect("no panic holds the lock")
            .names
            .get(id as usize)
            .cloned()
            .ok_or_else(|| StoreError::Corrupt {
                what,
                detail: format!("unknown field number {id}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> sled::Tree {
        sled::Config::new()
            .temporary(true)
            .open()
            .unwrap()
            .open_tree("meta")
            .unwrap()
    }

    #[test]
    fn a_name_keeps_its_number_across_a_reopen() {
        let meta = meta();
        let d = FieldDictionary::load(meta.clone());
        assert_eq!(d.id("email").unwrap(), 0);
        assert_eq!(d.id("city").unwrap(), 1);
        assert_eq!(d.id("email").unwrap(), 0);
        assert_eq!(d.len(), 2);
        let again = FieldDictionary::load(meta);
        assert_eq!(again.damage(), None);
        assert_eq!(again.name(1, "test").unwrap(), "city");
        assert_eq!(again.id("email").unwrap(), 0);
        assert_eq!(again.id("phone").unwrap(), 2);
    }

    #[test]
    fn an_unknown_number_is_a_damaged_value() {
        let d = FieldDictionary::load(meta());
        let err = d.name(7, "record").unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { what: "record", .. }),
            "{err:?}"
        );
    }

    /// A gap in the numbers is damage: the names before it still name values, and no name
    /// gets a number (it could be one the lost entry gave).
    #[test]
    fn a_gap_in_the_numbers_is_damage() {
        let meta = meta();
        meta.insert(key(0), codec::encode(&"email")).unwrap();
        meta.insert(key(2), codec::encode(&"city")).unwrap();
        let d = FieldDictionary::load(meta);
        assert!(d.damage().unwrap().contains("field number 2 follows 1"));
        assert_eq!(d.name(0, "record").unwrap(), "email");
        assert_eq!(d.id("email").unwrap(), 0);
        assert!(matches!(d.id("phone"), Err(StoreError::Corrupt { .. })));
    }
}
