//! fieldsync keeps Divalto weavy (the CRM) and Webmecanik Automation (a hosted Mautic) in
//! agreement, field by field, and can prove afterwards why every value is what it is.
//!
//! # Layout
//!
//! - [`model`]: the shared vocabulary: sides, object kinds, typed values, observations,
//!   decisions, conflict entries, patches. Plain data.
//! - [`merge`]: the merge rules of `DESIGN.md` as pure functions over two sides' values, their
//!   change times, the base and the field's policy. No I/O, no clock.
//! - [`identity`]: which records are the same thing: e-mail and company-key normalisation,
//!   matching, routing of contacts to weavy Contacts or Entrants, duplicates. Pure as well.
//! - [`store`]: the sled database: records and their observations, entities and links,
//!   indexes, bases, cursors, the dirty set, the outbox, the conflict log. Only `store` knows
//!   sled, and only its codec knows bincode.
//! - [`connector`]: the two APIs over HTTP (Mautic REST, weavy), behind one `Connector` trait,
//!   with retries, back-off, rate limits and request counting. Only `connector` knows reqwest.
//! - [`sync`]: one cycle (pull, merge, apply) and the scheduler that repeats it.
//! - [`audit`]: exporting the conflict log and the history of a record's fields.
//! - [`config`]: the TOML file, its defaults and validation; secrets from the environment.
//! - [`sim`]: in-memory simulators of both services for tests, benches and `demo`.
//! - [`cmd`]: one file per command of the binary; `main.rs` only parses arguments.
//!
//! # Invariants
//!
//! - `merge` and `identity` never do I/O and never read a clock: time comes in as arguments.
//! - Nothing is ever deleted on either side; a losing value is always kept in the conflict log.
//! - A patch is durable in the outbox before it is sent, and leaves it only once acknowledged.

pub mod audit;
pub mod cmd;
pub mod config;
pub mod connector;
pub mod duration_text;
pub mod identity;
pub mod merge;
pub mod model;
pub mod sim;
pub mod store;
pub mod suggest;
pub mod sync;
