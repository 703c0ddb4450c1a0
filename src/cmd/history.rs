//! `fieldsync history`: every value each side showed for an entity's fields, and every
//! decision about it, in time order.

use super::{CmdError, ConfigArgs, output, parse_entity_arg, parse_record_arg};
use crate::audit::{self, Format};
use crate::model::{EntityId, RecordRef};
use std::path::PathBuf;

/// Show the history of one record's fields, from both sides, with the decisions made.
#[derive(Debug, Clone, clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub db: ConfigArgs,
    /// The record, as object:id (customercontact:C0001, marketinginbound:wm-47, contact:47,
    /// customer:T001, company:3).
    #[arg(value_parser = parse_record_arg, required_unless_present = "entity")]
    pub record: Option<RecordRef>,
    /// Or the entity (e.g. E12).
    #[arg(long, value_parser = parse_entity_arg, conflicts_with = "record")]
    pub entity: Option<EntityId>,
    /// Only the first N lines.
    #[arg(long, value_name = "N", conflicts_with = "tail")]
    pub limit: Option<usize>,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write to this file (created readable by you only) instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub fn run(args: &HistoryArgs) -> Result<(), CmdError> {
    let store = args.db.open_existing()?;
    let mut lines = match (&args.record, args.entity) {
        (Some(r), _) => audit::history(&store, r)?,
        (None, Some(id)) => audit::entity_history(&store, id)?,
        (None, None) => return Err(CmdError::Usage("give a record or --entity".into())),
    };
    if let Some(n) = args.limit {
        lines.truncate(n);
    }
    if let Some(n) = args.tail {
        lines.drain(..lines.len().saturating_sub(n));
    }
    let mut out = output(args.output.as_deref())?;
    audit::write_history(&lines, args.format, &mut out)?;
    Ok(())
}
