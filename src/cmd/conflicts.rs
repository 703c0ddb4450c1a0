//! `fieldsync conflicts`: the conflict log, filtered, as a table, JSON Lines or CSV.

use super::{CmdError, ConfigArgs, output, parse_entity_arg, parse_time_arg};
use crate::audit::{self, Format};
use crate::model::{ConflictRule, EntityId, EntityKind, RecordKind};
use crate::store::ConflictFilter;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

/// Export the conflict log: every decision where two values met and a rule chose one, and
/// every identity or write event (duplicates, rejections, re-links).
#[derive(Debug, Clone, clap::Args)]
pub struct ConflictsArgs {
    #[command(flatten)]
    pub db: ConfigArgs,
    /// Only entries decided at or after this time (2024-05-01, RFC 3339, or a time ago:
    /// 24h, 7d, 2w).
    #[arg(long, value_parser = parse_time_arg)]
    pub from: Option<DateTime<Utc>>,
    /// Only entries decided before this time.
    #[arg(long, value_parser = parse_time_arg)]
    pub to: Option<DateTime<Utc>>,
    /// Only this object: company, person, or a table (customer, customercontact,
    /// marketinginbound, contact, company).
    #[arg(long)]
    pub object: Option<String>,
    /// Only this entity (e.g. E12).
    #[arg(long, value_parser = parse_entity_arg)]
    pub entity: Option<EntityId>,
    /// Only this field (its canonical name in the mapping).
    #[arg(long)]
    pub field: Option<String>,
    /// Only this rule (newer_wins, tie_preferred_side, weavy_priority, blank_kept, duplicate,
    /// rejected_write, email_collision, record_gone, relinked...).
    #[arg(long, value_parser = parse_rule)]
    pub rule: Option<ConflictRule>,
    /// Only the first N matching entries.
    #[arg(long, value_name = "N", conflicts_with = "tail")]
    pub limit: Option<usize>,
    /// Only the last N matching entries (still oldest first).
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write to this file (created readable by you only) instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// A rule name, or a usage error that suggests the closest and lists them all.
fn parse_rule(s: &str) -> Result<ConflictRule, String> {
    s.parse::<ConflictRule>().map_err(|e| {
        let names: Vec<&str> = ConflictRule::all().iter().map(|r| r.as_str()).collect();
        format!("{e}{}", crate::suggest::did_you_mean(s.trim(), names))
    })
}

/// The object names `--object` takes.
const OBJECTS: [&str; 8] = [
    "person",
    "people",
    "company",
    "companies",
    "customer",
    "customercontact",
    "marketinginbound",
    "contact",
];

/// `--field` must name a field the log can hold: one the database stored values of, or a
/// mapping of the config. A typo would otherwise match nothing and look like a clean log.
fn check_field(
    field: &str,
    store: &crate::store::Store,
    args: &ConflictsArgs,
) -> Result<(), CmdError> {
    let mut known = store.field_names();
    if let Ok(config) = args.db.load() {
        known.extend(
            config
                .person_fields
                .iter()
                .chain(&config.company_fields)
                .map(|m| m.name.clone()),
        );
    }
    known.sort();
    known.dedup();
    if known.iter().any(|k| k == field) || known.is_empty() {
        return Ok(());
    }
    Err(CmdError::Usage(format!(
        "no field '{field}' in this database or its mapping{}; the fields are: {}",
        crate::suggest::did_you_mean(field, known.iter().map(String::as_str)),
        known.join(", ")
    )))
}

pub fn run(args: &ConflictsArgs) -> Result<u64, CmdError> {
    let mut filter = ConflictFilter {
        from: args.from,
        to: args.to,
        entity: args.entity,
        field: args.field.clone(),
        rule: args.rule,
        ..Default::default()
    };
    if let Some(o) = &args.object {
        match o.trim().to_ascii_lowercase().as_str() {
            "person" | "people" => filter.entity_kind = Some(EntityKind::Person),
            "companies" => filter.entity_kind = Some(EntityKind::Company),
            other => {
                // "company" is both the entity kind and Mautic's table: the entity kind is
                // what a user means.
                if other == "company" {
                    filter.entity_kind = Some(EntityKind::Company);
                } else {
                    filter.record_kind = Some(other.parse::<RecordKind>().map_err(|e| {
                        CmdError::Usage(format!(
                            "{e}{}",
                            crate::suggest::did_you_mean(other, OBJECTS)
                        ))
                    })?);
                }
            }
        }
    }
    let store = args.db.open_existing()?;
    if let Some(field) = &args.field {
        check_field(field, &store, args)?;
    }
    let mut out = output(args.output.as_deref())?;
    let window = audit::Window {
        limit: args.limit,
        tail: args.tail,
    };
    let exported = audit::export_conflicts(&store, &filter, window, args.format, &mut out)?;
    if store.is_salvaging() && filter == ConflictFilter::default() && window == Default::default() {
        let logged = store.logged_by_cycles(|r: &crate::sync::CycleReport| r.conflicts);
        let unreadable = store.unreadable_conflicts();
        let lost = if logged == 0 {
            "the cycle reports are lost too, so how many entries may be lost cannot be told"
                .to_owned()
        } else {
            format!(
                "the cycle reports that survive count {logged} logged, so up to {} may be lost",
                logged.saturating_sub(exported)
            )
        };
        tracing::warn!(
            "salvaged {exported} conflict-log entr{} from a damaged database; {unreadable} could not be read and were skipped; {lost}",
            if exported == 1 { "y" } else { "ies" },
        );
    } else if store.unreadable_conflicts() > 0 {
        tracing::warn!(
            "{} conflict-log entries could not be read and were skipped",
            store.unreadable_conflicts()
        );
    }
    Ok(exported)
}
