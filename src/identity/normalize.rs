//! Normalised keys: what two records must share to be the same person or company.

use serde::{Deserialize, Serialize};

/// The longest e-mail address SMTP allows.
const MAX_EMAIL: usize = 254;

/// The e-mail as it is compared: trimmed and case-folded. `None` when it is not an e-mail
/// address (no `@`, nothing before or after it, no dot in the domain, spaces, control
/// characters, or too long): such a record is never synced.
pub fn normalize_email(raw: &str) -> Option<String> {
    let e = raw.trim();
    if e.is_empty() || e.len() > MAX_EMAIL {
        return None;
    }
    let (local, domain) = e.rsplit_once('@')?;
    let valid_char = |c: char| !c.is_whitespace() && !c.is_control() && c != '@';
    if local.is_empty()
        || local.len() > 64
        || domain.len() < 3
        || !local.chars().all(|c| valid_char(c) && c != ',' && c != ';')
        || !domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        || !domain.contains('.')
        || domain.starts_with(['.', '-'])
        || domain.ends_with(['.', '-'])
        || domain.contains("..")
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return None;
    }
    Some(e.to_lowercase())
}

/// A company name as it is compared: case-folded, inner whitespace collapsed to one space.
pub fn normalize_name(raw: &str) -> Option<String> {
    let n = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    (!n.is_empty() && !n.chars().any(char::is_control)).then_some(n)
}

/// A SIRET as 14 digits, when it is one: spaces, dots and dashes are ignored; the check digit
/// is verified (Luhn, and La Poste's own rule for its establishments).
pub fn normalize_siret(raw: &str) -> Option<String> {
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '\u{a0}'))
        .collect();
    if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let valid = if digits.starts_with("356000000") && digits != "35600000000048" {
        // La Poste's establishments share one SIREN; their SIRETs follow "sum of digits is a
        // multiple of 5" instead of Luhn (INSEE's rule). Its head office follows Luhn.
        digits.bytes().map(|b| (b - b'0') as u32).sum::<u32>() % 5 == 0
    } else {
        luhn(&digits)
    };
    valid.then_some(digits)
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = (b - b'0') as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// The key companies are matched on, as the user configured it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CompanyKeyKind {
    /// The company name, case-folded, spaces collapsed.
    #[default]
    Name,
    /// The SIRET, 14 digits, validated.
    Siret,
    /// A Mautic company field holding the weavy `customer_ID`, filled in by fieldsync.
    Idcrm,
}

impl CompanyKeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CompanyKeyKind::Name => "name",
            CompanyKeyKind::Siret => "siret",
            CompanyKeyKind::Idcrm => "idcrm",
        }
    }
}

/// A company's key under `kind`, from the raw key value (name, SIRET, or IDCRM / weavy id).
pub fn company_key(kind: CompanyKeyKind, raw: &str) -> Option<String> {
    match kind {
        CompanyKeyKind::Name => normalize_name(raw),
        CompanyKeyKind::Siret => normalize_siret(raw),
        CompanyKeyKind::Idcrm => {
            let t = raw.trim();
            (!t.is_empty() && !t.chars().any(char::is_control)).then(|| t.to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_case_folded_only() {
        assert_eq!(
            normalize_email("  Jean.Dupont@Exemple.FR ").as_deref(),
            Some("jean.dupont@exemple.fr")
        );
        assert_eq!(
            normalize_email("élodie+news@société.fr").as_deref(),
            Some("élodie+news@société.fr")
        );
    }

    #[test]
    fn things_that_are_not_emails_are_refused() {
        for bad in [
            "",
            "jean",
            "@exemple.fr",
            "jean@",
            "jean@exemple",
            "jean dupont@exemple.fr",
            "jean@exemple..fr",
            "jean@@exemple.fr",
            "a@b.c\u{0}",
            "jean@-exemple.fr",
            ".jean@exemple.fr",
            "a,b@exemple.fr",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
        let long = format!("{}@exemple.fr", "a".repeat(300));
        assert_eq!(normalize_email(&long), None);
    }

    #[test]
    fn company_names_collapse_spaces_and_case() {
        assert_eq!(
            normalize_name("  ACME   Industries\tSAS ").as_deref(),
            Some("acme industries sas")
        );
        assert_eq!(normalize_name("   "), None);
    }

    #[test]
    fn sirets_are_fourteen_luhn_valid_digits() {
        // SIRETs with valid check digits, written with the usual spaces.
        assert_eq!(
            normalize_siret("732 829 320 00074").as_deref(),
            Some("73282932000074")
        );
        assert_eq!(
            normalize_siret("552 100 554 00021").as_deref(),
            Some("55210055400021")
        );
        assert_eq!(normalize_siret("73282932000075"), None, "bad check digit");
        assert_eq!(normalize_siret("7328293200007"), None, "13 digits");
        assert_eq!(normalize_siret("7328293200007A"), None);
        // La Poste: digit sum multiple of 5.
        assert!(normalize_siret("35600000000048").is_some());
        assert!(normalize_siret("35600000049837").is_some());
    }
}
