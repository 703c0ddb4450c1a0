//! `fieldsync fields`: both sides' fields, custom ones included, with their type and whether
//! a mapping uses them.

use super::{CmdError, ConfigArgs};
use crate::connector::Connector;
use crate::model::{RecordKind, Side};
use crate::sync::Engine;
use std::io::Write;

/// List both sides' fields (custom ones included) and which are mapped.
#[derive(Debug, Clone, clap::Args)]
pub struct FieldsArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this side.
    #[arg(long)]
    pub side: Option<Side>,
    /// Only this table: customer, customercontact, marketinginbound, contact, company.
    #[arg(long)]
    pub object: Option<RecordKind>,
}

pub async fn run(args: &FieldsArgs) -> Result<(), CmdError> {
    let config = args.config.load()?;
    let (weavy, mautic, _) = Engine::clients(&config)?;
    let mut out = std::io::stdout().lock();
    for kind in RecordKind::ALL {
        if args.side.is_some_and(|s| s != kind.side()) || args.object.is_some_and(|o| o != kind) {
            continue;
        }
        let list = match kind.side() {
            Side::Weavy => weavy.fields(kind).await,
            Side::Mautic => mautic.fields(kind).await,
        }
        .map_err(crate::sync::SyncError::from)?;
        let _ = writeln!(out, "{kind} ({}): {} fields", kind.label(), list.len());
        let _ = writeln!(
            out,
            "  {:<28} {:<18} {:<9} {:<7} {:<9} mapped as",
            "field", "type", "reads as", "custom", "writable"
        );
        for f in &list {
            let mapped: Vec<&str> = config
                .mappings(kind)
                .iter()
                .filter(|m| m.code(kind) == Some(f.code.as_str()))
                .map(|m| m.name.as_str())
                .collect();
            let _ = writeln!(
                out,
                "  {:<28} {:<18} {:<9} {:<7} {:<9} {}",
                f.code,
                f.raw_type,
                f.field_type.as_str(),
                if f.custom { "custom" } else { "" },
                if f.writable { "yes" } else { "no" },
                if mapped.is_empty() {
                    "-".to_owned()
                } else {
                    mapped.join(", ")
                }
            );
        }
        let _ = writeln!(out);
    }
    Ok(())
}
