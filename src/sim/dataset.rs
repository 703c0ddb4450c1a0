//! A generated, realistic French B2B data set for both simulators: companies with SIRET
//! numbers, their contacts, marketing leads, Mautic contacts that exist in weavy too (with
//! small differences) or only in Mautic, a few duplicate e-mails, bounces, anonymous visitors,
//! contacts without an e-mail, and custom fields on both sides. Same seed, same data.
//!
//! The data set is planned first as plain data ([`Plan`]), then loaded into the simulators "as
//! users" ([`Plan::load`]), so tests can check the outcome against the plan.

use super::SimPair;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::{Value as Json, json};

/// How much of what.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetSpec {
    pub seed: u64,
    /// Companies in all; most in weavy, some in both, some only in Mautic.
    pub companies: usize,
    /// weavy Contacts (each belongs to a weavy company).
    pub weavy_contacts: usize,
    /// weavy Entrants (leads).
    pub weavy_leads: usize,
    /// Share of weavy Contacts and leads that also exist in Mautic (same e-mail).
    pub shared: f64,
    /// Mautic contacts with no weavy counterpart.
    pub mautic_only_contacts: usize,
    /// Groups of three weavy Contacts sharing one e-mail.
    pub duplicate_groups: usize,
    /// Mautic contacts whose e-mail bounced (Do Not Contact reason 2).
    pub bounces: usize,
    /// Anonymous Mautic visitors.
    pub anonymous: usize,
    /// Identified Mautic contacts without an e-mail.
    pub without_email: usize,
    /// Custom text fields on people, on both sides, mapped.
    pub custom_fields: usize,
}

impl DatasetSpec {
    /// A small data set: enough to show everything, fast to sync.
    pub fn small(seed: u64) -> Self {
        DatasetSpec {
            seed,
            companies: 12,
            weavy_contacts: 30,
            weavy_leads: 8,
            shared: 0.5,
            mautic_only_contacts: 10,
            duplicate_groups: 1,
            bounces: 2,
            anonymous: 5,
            without_email: 2,
            custom_fields: 2,
        }
    }

    /// The scale bench's data set, `factor` times: 10,000 companies, 30,000 weavy people
    /// (23,700 Contacts, 6,000 Entrants and 300 duplicates: 1 % of the e-mails), half of them
    /// in Mautic too, and 100,000 Mautic contacts in all (1,000 anonymous visitors and 200
    /// without an e-mail among them; 1 % bounced), with 14 custom fields mapped beside the 6
    /// standard ones (20 person mappings).
    pub fn scale(seed: u64, factor: f64) -> Self {
        let n = |x: f64| (x * factor).round().max(1.0) as usize;
        let shared = 0.5;
        let weavy_people = n(23_700.0) + n(6_000.0);
        let anonymous = n(1_000.0);
        let without_email = n(200.0);
        let mautic = n(100_000.0);
        DatasetSpec {
            seed,
            companies: n(10_000.0),
            weavy_contacts: n(23_700.0),
            weavy_leads: n(6_000.0),
            shared,
            mautic_only_contacts: mautic.saturating_sub(
                anonymous + without_email + (weavy_people as f64 * shared) as usize,
            ),
            duplicate_groups: n(150.0),
            bounces: n(1_000.0),
            anonymous,
            without_email,
            custom_fields: 14,
        }
    }
}

/// A company as planned.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedCompany {
    pub name: String,
    pub siret: String,
    pub city: String,
    pub postal_code: String,
    pub phone: String,
    pub website: String,
    /// Its weavy customer id, when it is in weavy.
    pub weavy_id: Option<String>,
    /// Whether it is in Mautic too.
    pub in_mautic: bool,
}

/// A person as planned.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPerson {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub mobile: String,
    /// weavy: the Contact or Entrant id; `None` for a Mautic-only contact.
    pub weavy_id: Option<String>,
    /// An Entrant (lead) rather than a Contact.
    pub lead: bool,
    /// The company (index into [`Plan::companies`]).
    pub company: Option<usize>,
    /// Also in Mautic.
    pub in_mautic: bool,
    /// Mautic holds a slightly different value (first name in capitals, say).
    pub mautic_differs: bool,
    /// The Mautic contact bounced.
    pub bounced: bool,
    /// Custom field values.
    pub custom: Vec<String>,
}

/// The planned data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub spec: DatasetSpec,
    pub companies: Vec<PlannedCompany>,
    pub people: Vec<PlannedPerson>,
}

const FIRST: &[&str] = &[
    "Jean",
    "Marie",
    "Pierre",
    "Sophie",
    "Luc",
    "Camille",
    "Nicolas",
    "Julie",
    "Thomas",
    "Claire",
    "Antoine",
    "Élodie",
    "François",
    "Chloé",
    "Mathieu",
    "Léa",
    "Olivier",
    "Manon",
    "Hugo",
    "Inès",
    "Julien",
    "Sarah",
    "Benoît",
    "Amélie",
    "Romain",
    "Céline",
    "Guillaume",
    "Aurélie",
];
const LAST: &[&str] = &[
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet",
];
const TRADES: &[&str] = &[
    "Boulangerie",
    "Transports",
    "Atelier",
    "Menuiserie",
    "Imprimerie",
    "Cabinet",
    "Garage",
    "Librairie",
    "Pharmacie",
    "Brasserie",
    "Laboratoires",
    "Éditions",
    "Industries",
    "Conseil",
];
const FORMS: &[&str] = &["SARL", "SAS", "SA", "EURL", "SASU", ""];
const CITIES: &[(&str, &str)] = &[
    ("Paris", "75011"),
    ("Lyon", "69003"),
    ("Marseille", "13008"),
    ("Toulouse", "31000"),
    ("Nantes", "44000"),
    ("Bordeaux", "33000"),
    ("Lille", "59000"),
    ("Strasbourg", "67000"),
    ("Rennes", "35000"),
    ("Grenoble", "38000"),
    ("Annecy", "74000"),
    ("Tours", "37000"),
];
const SEGMENTS: &[&str] = &[
    "PME",
    "ETI",
    "Grand compte",
    "Artisan",
    "Collectivité",
    "Association",
];

/// A 14-digit SIRET with a valid Luhn check digit.
fn siret(rng: &mut Xoshiro256PlusPlus) -> String {
    loop {
        let mut digits: Vec<u32> = (0..13).map(|_| rng.random_range(0..10)).collect();
        if digits[0] == 0 {
            digits[0] = 1;
        }
        // Try every last digit; exactly one satisfies Luhn.
        for last in 0..10 {
            let mut all = digits.clone();
            all.push(last);
            let s: String = all
                .iter()
                .map(|d| char::from_digit(*d, 10).unwrap())
                .collect();
            if s.starts_with("356000000") {
                break;
            }
            if crate::identity::normalize_siret(&s).is_some() {
                return s;
            }
        }
    }
}

fn ascii_slug(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
            'à' | 'â' => 'a',
            'î' | 'ï' => 'i',
            'ô' => 'o',
            'ù' | 'û' => 'u',
            'ç' => 'c',
            c => c.to_ascii_lowercase(),
        })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

fn phone(rng: &mut Xoshiro256PlusPlus, mobile: bool) -> String {
    let first = if mobile {
        rng.random_range(6..8)
    } else {
        rng.random_range(1..6)
    };
    format!(
        "+33 {first} {:02} {:02} {:02} {:02}",
        rng.random_range(0..100),
        rng.random_range(0..100),
        rng.random_range(0..100),
        rng.random_range(0..100)
    )
}

impl Plan {
    /// Plans a data set from its spec.
    pub fn new(spec: DatasetSpec) -> Plan {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(spec.seed);
        let pick = |rng: &mut Xoshiro256PlusPlus, list: &[&'static str]| {
            list[rng.random_range(0..list.len())]
        };
        let mut companies = Vec::with_capacity(spec.companies);
        for i in 0..spec.companies {
            let (city, postal) = CITIES[rng.random_range(0..CITIES.len())];
            let trade = pick(&mut rng, TRADES);
            let family = pick(&mut rng, LAST);
            let form = pick(&mut rng, FORMS);
            // The index makes names unique: two companies never collide by accident.
            let name = format!(
                "{trade} {family} {}{}",
                i + 1,
                if form.is_empty() {
                    String::new()
                } else {
                    format!(" {form}")
                }
            );
            let slug = ascii_slug(&format!("{trade}-{family}-{}", i + 1));
            // 80% in weavy; of those, half in Mautic too; the rest only in Mautic.
            let in_weavy = i % 5 != 4;
            let in_mautic = !in_weavy || i % 2 == 0;
            companies.push(PlannedCompany {
                name,
                siret: siret(&mut rng),
                city: city.into(),
                postal_code: postal.into(),
                phone: phone(&mut rng, false),
                website: format!("https://www.{slug}.fr"),
                weavy_id: in_weavy.then(|| format!("T{:05}", i + 1)),
                in_mautic,
            });
        }
        let weavy_companies: Vec<usize> = (0..companies.len())
            .filter(|&i| companies[i].weavy_id.is_some())
            .collect();
        let mut people = Vec::new();
        let person = |rng: &mut Xoshiro256PlusPlus,
                      n: usize,
                      company: Option<usize>,
                      companies: &[PlannedCompany]| {
            let first = pick(rng, FIRST);
            let last = pick(rng, LAST);
            let domain = company.map_or_else(
                || {
                    ["gmail.com", "orange.fr", "free.fr", "laposte.net"][rng.random_range(0..4)]
                        .to_owned()
                },
                |c| {
                    format!(
                        "{}.fr",
                        ascii_slug(
                            &companies[c]
                                .name
                                .split(' ')
                                .take(3)
                                .collect::<Vec<_>>()
                                .join("-")
                        )
                    )
                },
            );
            let email = format!("{}.{}{n}@{domain}", ascii_slug(first), ascii_slug(last));
            PlannedPerson {
                first_name: first.into(),
                last_name: last.into(),
                email,
                phone: phone(rng, false),
                mobile: phone(rng, true),
                weavy_id: None,
                lead: false,
                company,
                in_mautic: false,
                mautic_differs: false,
                bounced: false,
                custom: (0..spec.custom_fields)
                    .map(|_| SEGMENTS[rng.random_range(0..SEGMENTS.len())].to_owned())
                    .collect(),
            }
        };
        for i in 0..spec.weavy_contacts {
            let company =
                (!weavy_companies.is_empty()).then(|| weavy_companies[i % weavy_companies.len()]);
            let mut p = person(&mut rng, people.len(), company, &companies);
            p.weavy_id = Some(format!("C{:06}", i + 1));
            p.in_mautic = rng.random_bool(spec.shared.clamp(0.0, 1.0));
            p.mautic_differs = p.in_mautic && rng.random_bool(0.2);
            people.push(p);
        }
        for i in 0..spec.weavy_leads {
            let mut p = person(&mut rng, people.len(), None, &companies);
            p.weavy_id = Some(format!("L{:06}", i + 1));
            p.lead = true;
            p.in_mautic = rng.random_bool(spec.shared.clamp(0.0, 1.0));
            people.push(p);
        }
        // Duplicates: three weavy Contacts with the e-mail of an existing Contact.
        let contacts = people.len().min(spec.weavy_contacts);
        for g in 0..spec.duplicate_groups.min(contacts) {
            let original = people[g * 3 % contacts].clone();
            for k in 0..2 {
                let mut p = original.clone();
                p.weavy_id = Some(format!("D{:05}{k}", g + 1));
                p.in_mautic = false;
                p.first_name = format!("{} ", p.first_name.trim());
                people.push(p);
            }
        }
        // Mautic-only contacts work for Mautic-only companies, fifty to a company.
        let mautic_only_companies: Vec<usize> = (0..companies.len())
            .filter(|&i| companies[i].weavy_id.is_none())
            .collect();
        for k in 0..spec.mautic_only_contacts {
            let company = (!mautic_only_companies.is_empty())
                .then(|| mautic_only_companies[(k / 50) % mautic_only_companies.len()]);
            let mut p = person(&mut rng, people.len(), company, &companies);
            p.in_mautic = true;
            people.push(p);
        }
        let in_mautic: Vec<usize> = (0..people.len()).filter(|&i| people[i].in_mautic).collect();
        for k in 0..spec.bounces.min(in_mautic.len()) {
            people[in_mautic[k * 7 % in_mautic.len()]].bounced = true;
        }
        Plan {
            spec,
            companies,
            people,
        }
    }

    /// The mappings of the custom fields, to append to a configuration.
    pub fn custom_mappings_toml(&self) -> String {
        (1..=self.spec.custom_fields)
            .map(|i| {
                format!(
                    "\n[[person_fields]]\nname = \"segment_{i}\"\nweavy = \"segment{i}\"\nmautic = \"segment_{i}\"\ntrim = true\n"
                )
            })
            .collect::<Vec<_>>()
            .join("")
    }

    /// A full configuration tail: the default person mappings, plus the custom ones.
    pub fn person_fields_toml(&self) -> String {
        let defaults = r#"
[[person_fields]]
name = "email"
weavy = "email"
mautic = "email"
trim = true
ignore_case = true

[[person_fields]]
name = "firstname"
weavy = "firstName"
mautic = "firstname"
trim = true

[[person_fields]]
name = "lastname"
weavy = "lastName"
mautic = "lastname"
trim = true

[[person_fields]]
name = "phone"
weavy = "phoneNumber"
mautic = "phone"
trim = true

[[person_fields]]
name = "mobile"
weavy = "mobilePhoneNumber"
mautic = "mobile"
trim = true

[[person_fields]]
name = "npai"
weavy = "bouncedEmailDetected"
entrant = "-"
mautic = "dnc_bounced"
direction = "mautic_wins"
type = "datetime"
"#;
        format!("{defaults}{}", self.custom_mappings_toml())
    }

    /// Loads the data set into the simulators, as users would have typed it.
    pub fn load(&self, pair: &SimPair) -> Loaded {
        for i in 1..=self.spec.custom_fields {
            pair.weavy
                .add_custom_field("customercontact", &format!("segment{i}"), "text");
            pair.weavy
                .add_custom_field("marketinginbound", &format!("segment{i}"), "text");
            pair.mautic
                .add_custom_field("contact", &format!("segment_{i}"), "text");
        }
        let mut mautic_company = vec![None; self.companies.len()];
        for (i, c) in self.companies.iter().enumerate() {
            if let Some(id) = &c.weavy_id {
                pair.weavy.insert(
                    "customer",
                    id,
                    &[
                        ("name", json!(c.name)),
                        ("siretNumber", json!(c.siret)),
                        ("city", json!(c.city)),
                        ("postalCode", json!(c.postal_code)),
                        ("phoneNumber", json!(c.phone)),
                        ("website", json!(c.website)),
                    ],
                );
            }
            if c.in_mautic {
                let id = pair.mautic.add_company(&[
                    ("companyname", json!(c.name)),
                    ("companycity", json!(c.city)),
                    ("companyzipcode", json!(c.postal_code)),
                    ("companyphone", json!(c.phone)),
                    ("companywebsite", json!(c.website)),
                ]);
                mautic_company[i] = Some(id);
            }
        }
        let mut mautic_people = vec![None; self.people.len()];
        for (i, p) in self.people.iter().enumerate() {
            if let Some(id) = &p.weavy_id {
                let mut fields: Vec<(&str, Json)> = vec![
                    ("firstName", json!(p.first_name)),
                    ("lastName", json!(p.last_name)),
                    ("email", json!(p.email)),
                    ("phoneNumber", json!(p.phone)),
                ];
                let custom: Vec<String> = (1..=p.custom.len())
                    .map(|k| format!("segment{k}"))
                    .collect();
                for (k, v) in custom.iter().zip(&p.custom) {
                    fields.push((k.as_str(), json!(v)));
                }
                if p.lead {
                    pair.weavy.insert("marketinginbound", id, &fields);
                } else {
                    fields.push(("mobilePhoneNumber", json!(p.mobile)));
                    if let Some(c) = p.company.and_then(|c| self.companies[c].weavy_id.clone()) {
                        fields.push(("customer_ID", json!(c)));
                    }
                    pair.weavy.insert("customercontact", id, &fields);
                }
            }
            if p.in_mautic {
                let first = if p.mautic_differs {
                    p.first_name.to_uppercase()
                } else {
                    p.first_name.clone()
                };
                let mut fields: Vec<(&str, Json)> = vec![
                    ("firstname", json!(first)),
                    ("lastname", json!(p.last_name)),
                    ("email", json!(p.email)),
                    ("phone", json!(p.phone)),
                ];
                let custom: Vec<String> = (1..=p.custom.len())
                    .map(|k| format!("segment_{k}"))
                    .collect();
                for (k, v) in custom.iter().zip(&p.custom) {
                    fields.push((k.as_str(), json!(v)));
                }
                let id = pair.mautic.add_contact(&fields);
                if let Some(c) = p.company.and_then(|c| mautic_company[c]) {
                    pair.mautic.link_contact_company(id, c, true);
                }
                if p.bounced {
                    pair.mautic.add_dnc(id, 2);
                }
                mautic_people[i] = Some(id);
            }
        }
        let anonymous = (0..self.spec.anonymous)
            .map(|_| pair.mautic.add_anonymous_visitor())
            .collect();
        let without_email = (0..self.spec.without_email)
            .map(|k| {
                pair.mautic.add_contact(&[
                    ("firstname", json!("Sans")),
                    ("lastname", json!(format!("Adresse {k}"))),
                    ("phone", json!("+33 1 00 00 00 00")),
                ])
            })
            .collect();
        Loaded {
            mautic_companies: mautic_company,
            mautic_people,
            anonymous,
            without_email,
        }
    }
}

/// The ids the simulators gave to what was loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// By company index.
    pub mautic_companies: Vec<Option<u64>>,
    /// By person index.
    pub mautic_people: Vec<Option<u64>>,
    pub anonymous: Vec<u64>,
    pub without_email: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_plans_the_same_data() {
        assert_eq!(
            Plan::new(DatasetSpec::small(3)),
            Plan::new(DatasetSpec::small(3))
        );
        assert_ne!(
            Plan::new(DatasetSpec::small(3)),
            Plan::new(DatasetSpec::small(4))
        );
    }

    #[test]
    fn every_siret_and_email_is_valid() {
        let plan = Plan::new(DatasetSpec::small(9));
        for c in &plan.companies {
            assert!(
                crate::identity::normalize_siret(&c.siret).is_some(),
                "{}",
                c.siret
            );
        }
        for p in &plan.people {
            assert!(
                crate::identity::normalize_email(&p.email).is_some(),
                "{}",
                p.email
            );
        }
        let dups = plan
            .people
            .iter()
            .filter(|p| p.weavy_id.as_deref().is_some_and(|id| id.starts_with('D')))
            .count();
        assert_eq!(dups, 2);
    }
}
