//! Which records are the same thing. Pure: the sync layer gathers the candidates from the
//! store and applies what these functions decide.
//!
//! - [`normalize`]: e-mails (trimmed, case-folded, validated), company names (case-folded,
//!   spaces collapsed), SIRET numbers (14 digits, Luhn-checked).
//! - [`routing`]: where an unlinked record goes (link to a record of the other side, or insert
//!   one), the duplicate rule (most recently modified, then smallest id; an existing link always
//!   wins), lead conversion, the e-mail collision guard.

pub mod normalize;
pub mod routing;

pub use normalize::{
    CompanyKeyKind, company_key, normalize_email, normalize_name, normalize_siret,
};
pub use routing::{
    Candidate, GroupAction, GroupEntity, Member, email_collisions, pick, plan_group,
};
