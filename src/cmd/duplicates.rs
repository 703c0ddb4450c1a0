//! `fieldsync duplicates`: records sharing an e-mail (people) or a company key on one side:
//! which one is synced (kept) and which are left alone. Read from the database.

use super::{CmdError, ConfigArgs, open_waiting};
use crate::identity::{Candidate, pick};
use crate::model::{RecordRef, Side};
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::io::Write;
use std::time::Duration;

/// Show the records that share an e-mail or company key: the one synced, the ones left alone.
#[derive(Debug, Clone, clap::Args)]
pub struct DuplicatesArgs {
    #[command(flatten)]
    pub store: ConfigArgs,
    /// Machine-readable output (JSON Lines, one group a line).
    #[arg(long)]
    pub json: bool,
}

/// One group of records sharing a key on one side.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    /// "e-mail" or "company key".
    pub by: &'static str,
    pub key: String,
    pub side: Side,
    /// The record synced (linked), if fieldsync decided already.
    pub kept: Option<String>,
    /// Why that one: the duplicate rule (the most recently modified, then the smallest id)
    /// picked it, or it was picked before and stays.
    pub why: String,
    /// The records left alone.
    pub left_alone: Vec<String>,
}

fn name(r: &RecordRef) -> String {
    format!("{}:{}", r.kind.api_name(), r.id)
}

/// Every group with more than one record on a side.
pub fn groups(store: &Store) -> Result<Vec<Group>, StoreError> {
    let mut out = Vec::new();
    let mut push = |by: &'static str, key: &str, records: &[RecordRef]| -> Result<(), StoreError> {
        for side in Side::BOTH {
            let of_side: Vec<&RecordRef> = records.iter().filter(|r| r.side() == side).collect();
            if of_side.len() < 2 {
                continue;
            }
            let mut kept = None;
            let mut left = Vec::new();
            for r in &of_side {
                if kept.is_none() && store.entity_of(r)?.is_some() {
                    kept = Some(*r);
                } else {
                    left.push(name(r));
                }
            }
            let states = of_side
                .iter()
                .map(|r| Ok(store.record(r)?.and_then(|s| s.modified_at)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let candidates: Vec<Candidate> = of_side
                .iter()
                .zip(&states)
                .map(|(r, at)| Candidate {
                    record: r,
                    modified_at: *at,
                })
                .collect();
            let by_rule = pick(&candidates).map(|i| of_side[i]);
            let when = |r: &RecordRef| {
                of_side
                    .iter()
                    .position(|x| *x == r)
                    .and_then(|i| states[i])
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "no time".into())
            };
            let why = match (kept, by_rule) {
                (None, _) => "not decided yet: the next cycle picks the most recently modified, then the smallest id".to_owned(),
                (Some(k), Some(b)) if k == b => format!(
                    "the most recently modified ({}), then the smallest id: the duplicate rule's pick",
                    when(k)
                ),
                (Some(k), Some(b)) => format!(
                    "picked at an earlier cycle and kept (once picked, a record stays, so its link and history do not move); {} was modified more recently ({}, against {})",
                    name(b),
                    when(b),
                    when(k)
                ),
                (Some(_), None) => "linked already (once picked, a record stays)".to_owned(),
            };
            let kept = kept.map(name);
            out.push(Group {
                by,
                key: key.to_owned(),
                side,
                kept,
                why,
                left_alone: left,
            });
        }
        Ok(())
    };
    for (by, iter) in [
        (
            "e-mail",
            Box::new(store.email_index()) as Box<dyn Iterator<Item = _>>,
        ),
        ("company key", Box::new(store.company_key_index())),
    ] {
        let mut current: Option<String> = None;
        let mut records = Vec::new();
        for entry in iter {
            let (key, r) = entry?;
            if current.as_deref() != Some(key.as_str()) {
                if let Some(k) = current.take() {
                    push(by, &k, &records)?;
                }
                records.clear();
                current = Some(key);
            }
            records.push(r);
        }
        if let Some(k) = current {
            push(by, &k, &records)?;
        }
    }
    Ok(out)
}

pub async fn run(args: &DuplicatesArgs) -> Result<Vec<Group>, CmdError> {
    let path = args.store.path()?;
    let store = open_waiting(&path, 64, Duration::from_secs(30), None).await?;
    let groups = groups(&store)?;
    let mut out = std::io::stdout().lock();
    if groups.is_empty() && !args.json {
        let _ = writeln!(
            out,
            "no duplicates: every e-mail and company key is held by one record per side"
        );
    }
    for g in &groups {
        if args.json {
            let _ = serde_json::to_writer(&mut out, g);
            let _ = writeln!(out);
            continue;
        }
        let _ = writeln!(out, "{} '{}' on {}:", g.by, g.key, g.side);
        match &g.kept {
            Some(k) => {
                let _ = writeln!(out, "  kept       {k}: {}", g.why);
            }
            None => {
                let _ = writeln!(out, "  ({})", g.why);
            }
        }
        for l in &g.left_alone {
            let _ = writeln!(out, "  left alone {l}");
        }
    }
    Ok(groups)
}
