//! The pair of instances a database holds the state of. A database is bound to the weavy
//! project and the Mautic instance of its first sync: its links, bases and cursors are those
//! servers' records and clocks, and against another pair they would link strangers, write old
//! values as if they were known, and skip records whose stamps are older than the cursors.
//! `Store::bind` refuses another pair (a copied or restored database, a config pointed at a
//! test instance, a demo folder run again) unless the caller says the pair moved.

use super::{META_INSTANCES, Store, StoreError, codec};
use serde::{Deserialize, Serialize};

/// The two instances, as the configuration names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instances {
    pub weavy_base_url: String,
    pub weavy_project: String,
    pub mautic_base_url: String,
}

impl Instances {
    /// The instances, with their addresses in one spelling (`HTTPS://Acme.example.com/` and
    /// `https://acme.example.com` are the same server).
    pub fn new(weavy_base_url: &str, weavy_project: &str, mautic_base_url: &str) -> Instances {
        Instances {
            weavy_base_url: same_address(weavy_base_url),
            weavy_project: weavy_project.trim().to_owned(),
            mautic_base_url: same_address(mautic_base_url),
        }
    }
}

impl std::fmt::Display for Instances {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "weavy project {} at {} and Mautic at {}",
            self.weavy_project, self.weavy_base_url, self.mautic_base_url
        )
    }
}

/// An address without trailing slashes, its scheme and host in lower case (the path keeps its
/// case: a Mautic installed under `/Mautic` is not one under `/mautic`).
fn same_address(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!(
                "{}://{}{path}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => url.to_owned(),
    }
}

/// What [`Store::bind`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bound {
    /// The database was bound to these instances now (its first sync, or a database made
    /// before bindings existed, or `moved`).
    Now,
    /// It was bound to them already.
    Already,
}

impl Store {
    /// The instances this database is bound to, if any.
    pub fn instances(&self) -> Result<Option<Instances>, StoreError> {
        self.meta
            .get(META_INSTANCES)?
            .map(|v| codec::decode(&v, "instances"))
            .transpose()
    }

    /// Binds the database to `instances`, or checks it is bound to them. `moved`: the same
    /// instances at new addresses (the user says so): the binding is replaced.
    pub fn bind(&self, instances: &Instances, moved: bool) -> Result<Bound, StoreError> {
        match self.instances()? {
            Some(bound) if bound == *instances => Ok(Bound::Already),
            Some(bound) if !moved => Err(StoreError::OtherInstances {
                path: self.path().to_path_buf(),
                bound: Box::new(bound),
                given: Box::new(instances.clone()),
            }),
            _ => {
                self.meta.insert(META_INSTANCES, codec::encode(instances))?;
                self.flush()?;
                Ok(Bound::Now)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    #[test]
    fn a_database_holds_one_pair_of_instances() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("db"), &StoreOptions::default()).unwrap();
        let acme = Instances::new(
            "https://api.weavy.divalto.com/",
            "ACME",
            "https://Acme.Webmecanik.com",
        );
        assert_eq!(store.bind(&acme, false).unwrap(), Bound::Now);
        let same = Instances::new(
            "HTTPS://api.weavy.divalto.com",
            " ACME",
            "https://acme.webmecanik.com/",
        );
        assert_eq!(store.bind(&same, false).unwrap(), Bound::Already);
        let other = Instances::new(
            "https://api.weavy.divalto.com",
            "ACME-TEST",
            "https://acme.webmecanik.com",
        );
        let e = store.bind(&other, false).unwrap_err().to_string();
        assert!(
            e.contains("ACME-TEST") && e.contains("project ACME at"),
            "{e}"
        );
        assert!(e.contains("--db") && e.contains("--moved"), "{e}");
        assert_eq!(store.instances().unwrap(), Some(acme.clone()));
        assert_eq!(store.bind(&other, true).unwrap(), Bound::Now);
        assert_eq!(store.instances().unwrap(), Some(other));
    }
}
