//! `fieldsync check`: reaches both sides, authenticates, reads the weavy dictionaries and the
//! Mautic field lists, tests every weavy right the configuration needs, validates the mapping,
//! and prints one line per check: ok, or what is wrong and what to do. Exit code 0 only when
//! every check passes.

use super::{CmdError, ConfigArgs};
use crate::config::{Config, Object};
use crate::connector::{Connector, ConnectorError, ErrorKind, WeavyRight};
use crate::model::{Direction, RecordKind, Side};
use crate::sync::{Engine, FieldLists};

/// Check the configuration against both sides: connections, credentials, rights, mapping.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub ok: bool,
    pub text: String,
}

struct Report {
    lines: Vec<Line>,
}

impl Report {
    fn ok(&mut self, text: impl Into<String>) {
        self.push(true, text.into());
    }

    fn fail(&mut self, text: impl Into<String>) {
        self.push(false, text.into());
    }

    fn push(&mut self, ok: bool, text: String) {
        println!("{} {text}", if ok { "ok  " } else { "FAIL" });
        self.lines.push(Line { ok, text });
    }
}

/// The weavy rights the configuration needs, by table.
pub fn needed_rights(config: &Config) -> Vec<(RecordKind, WeavyRight, String)> {
    let mut out = Vec::new();
    for kind in config
        .kinds()
        .into_iter()
        .filter(|k| k.side() == Side::Weavy)
    {
        out.push((kind, WeavyRight::Read, "to read it".to_owned()));
        let inserts = match kind {
            RecordKind::WeavyEntrant => config.sync.create_weavy_entrants,
            RecordKind::WeavyCustomer => config.sync.create_weavy_companies,
            _ => false,
        };
        if inserts {
            out.push((
                kind,
                WeavyRight::Insert,
                "to create records from Mautic".to_owned(),
            ));
        }
        let writes = config
            .mappings(kind)
            .iter()
            .any(|m| m.code(kind).is_some() && m.direction != Direction::WeavyWins)
            || (kind == RecordKind::WeavyContact && config.sync.company_relation);
        if writes {
            out.push((
                kind,
                WeavyRight::Update,
                "to write Mautic's changes".to_owned(),
            ));
        }
    }
    out
}

fn describe(e: &ConnectorError) -> String {
    match &e.kind {
        ErrorKind::MissingRight { .. } => e.kind.to_string(),
        _ => e.to_string(),
    }
}

pub async fn run(args: &CheckArgs) -> Result<Vec<Line>, CmdError> {
    let mut r = Report { lines: Vec::new() };
    let config = match args.config.load() {
        Ok(c) => {
            r.ok(format!(
                "configuration {} read",
                args.config.config.display()
            ));
            for w in &c.warnings {
                r.fail(format!("configuration: {w}"));
            }
            c
        }
        Err(e) => {
            r.fail(format!("configuration: {e}"));
            return finish(r);
        }
    };
    let (weavy, mautic, _) = match Engine::clients(&config) {
        Ok(c) => c,
        Err(e) => {
            r.fail(format!("credentials: {e}"));
            return finish(r);
        }
    };
    let mut fields = FieldLists::new();

    match weavy.check_auth().await {
        Ok(()) => r.ok(format!(
            "weavy: authenticated as {} on project {} ({})",
            config.weavy.user, config.weavy.project_code, config.weavy.base_url
        )),
        Err(e) => r.fail(format!("weavy: {}", describe(&e))),
    }
    for kind in config
        .kinds()
        .into_iter()
        .filter(|k| k.side() == Side::Weavy)
    {
        match weavy.fields(kind).await {
            Ok(list) => {
                r.ok(format!(
                    "weavy: dictionary of '{}' ({}): {} fields, {} custom",
                    kind.label(),
                    kind.api_name(),
                    list.len(),
                    list.iter().filter(|f| f.custom).count()
                ));
                fields.insert(kind, list);
            }
            Err(e) => r.fail(format!(
                "weavy: dictionary of '{}': {}",
                kind.label(),
                describe(&e)
            )),
        }
    }
    for (kind, right, why) in needed_rights(&config) {
        match weavy.check_right(kind, right).await {
            Ok(()) => r.ok(format!(
                "weavy: '{}' on '{}' ({why})",
                right.studio_column(),
                kind.label()
            )),
            Err(e) => r.fail(format!(
                "weavy: '{}' on '{}' ({why}): {}",
                right.studio_column(),
                kind.label(),
                describe(&e)
            )),
        }
    }

    // How weavy reads each table: what offset counts, the zone of srvDate and its filters.
    for kind in config
        .kinds()
        .into_iter()
        .filter(|k| k.side() == Side::Weavy)
    {
        match weavy.survey(kind).await {
            Ok(s) => r.ok(format!(
                "weavy: '{}' reads as: {}",
                kind.label(),
                s.describe(config.time_zone())
            )),
            Err(e) => r.fail(format!(
                "weavy: reading '{}': {}",
                kind.label(),
                describe(&e)
            )),
        }
    }

    match mautic.check_auth().await {
        Ok(()) => r.ok(format!(
            "mautic: authenticated ({:?}) at {}, Mautic {}{}",
            config.mautic.auth,
            config.mautic.base_url,
            mautic
                .version()
                .as_deref()
                .unwrap_or("(version not announced)"),
            if crate::sync::facts::mautic_keeps_minutes(mautic.version().as_deref()) {
                ": date-times are kept to the minute, and compared so"
            } else {
                ""
            }
        )),
        Err(e) => r.fail(format!("mautic: {e}")),
    }
    for kind in config
        .kinds()
        .into_iter()
        .filter(|k| k.side() == Side::Mautic)
    {
        match mautic.fields(kind).await {
            Ok(list) => {
                r.ok(format!(
                    "mautic: {} fields: {}, {} custom",
                    kind.api_name(),
                    list.len(),
                    list.iter().filter(|f| f.custom).count()
                ));
                fields.insert(kind, list);
            }
            Err(e) => r.fail(format!("mautic: {} fields: {e}", kind.api_name())),
        }
    }

    if fields.len() == config.kinds().len() {
        let problems = config.validate_fields(&fields);
        if problems.is_empty() {
            r.ok(format!(
                "mapping: {} people field(s) and {} company field(s) exist on both sides{}",
                config.person_fields.len(),
                if config.syncs(Object::Companies) {
                    config.company_fields.len()
                } else {
                    0
                },
                if config.syncs(Object::Leads) {
                    " (Entrants included)"
                } else {
                    ""
                }
            ));
        }
        for p in problems {
            r.fail(format!("mapping: {p}"));
        }
    } else {
        r.fail("mapping: not checked, some field lists could not be read (see above)");
    }
    database(&mut r, &config);
    finish(r)
}

/// The database, if there is one yet: whether it holds the state of these instances.
fn database(r: &mut Report, config: &Config) {
    let path = &config.store.path;
    if !path.exists() {
        r.ok(format!(
            "database: none yet at {}; the first sync creates it and binds it to {}",
            path.display(),
            config.instances()
        ));
        return;
    }
    match crate::store::Store::open(path, &Default::default()).and_then(|s| s.instances()) {
        Ok(Some(bound)) if bound == config.instances() => r.ok(format!(
            "database {}: holds the state of these instances",
            path.display()
        )),
        Ok(Some(bound)) => r.fail(
            crate::store::StoreError::OtherInstances {
                path: path.clone(),
                bound: Box::new(bound),
                given: Box::new(config.instances()),
            }
            .to_string(),
        ),
        Ok(None) => r.ok(format!(
            "database {}: the next sync binds it to {}",
            path.display(),
            config.instances()
        )),
        Err(crate::store::StoreError::Locked { .. }) => r.ok(format!(
            "database {}: in use by a running fieldsync (not checked)",
            path.display()
        )),
        Err(e) => r.fail(format!("database: {e}")),
    }
}

fn finish(r: Report) -> Result<Vec<Line>, CmdError> {
    let failed = r.lines.iter().filter(|l| !l.ok).count();
    if failed > 0 {
        Err(CmdError::ChecksFailed(failed))
    } else {
        println!("all {} checks passed", r.lines.len());
        Ok(r.lines)
    }
}
