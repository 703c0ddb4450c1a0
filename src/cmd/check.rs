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

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Fail,
    /// Not checked: what it depends on failed (said on its own line).
    Skipped,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub outcome: Outcome,
    pub text: String,
}

struct Report {
    lines: Vec<Line>,
    quiet: bool,
}

impl Report {
    fn ok(&mut self, text: impl Into<String>) {
        self.push(Outcome::Ok, text.into());
    }

    fn fail(&mut self, text: impl Into<String>) {
        self.push(Outcome::Fail, text.into());
    }

    fn skip(&mut self, text: impl Into<String>) {
        self.push(Outcome::Skipped, text.into());
    }

    fn push(&mut self, outcome: Outcome, text: String) {
        let tag = match outcome {
            Outcome::Ok => "ok  ",
            Outcome::Fail => "FAIL",
            Outcome::Skipped => "--  ",
        };
        if outcome == Outcome::Fail || !self.quiet {
            println!("{tag} {text}");
        }
        self.lines.push(Line { outcome, text });
    }
}

/// A side that cannot be reached, or refuses the credentials: its other checks would all fail
/// the same way, so they are not made.
fn stops_the_side(e: &ConnectorError) -> bool {
    matches!(
        e.kind,
        ErrorKind::Connect(_) | ErrorKind::Timeout(_) | ErrorKind::Auth { .. }
    )
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
        // The line names the side and the check: the kind says the rest.
        ErrorKind::MissingRight { .. }
        | ErrorKind::Auth { .. }
        | ErrorKind::Connect(_)
        | ErrorKind::Timeout(_) => e.kind.to_string(),
        _ => e.to_string(),
    }
}

pub async fn run(args: &CheckArgs) -> Result<Vec<Line>, CmdError> {
    let mut r = Report {
        lines: Vec::new(),
        quiet: super::ui::Ui::get().quiet,
    };
    let mut config = match args.config.load() {
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
    // `check` says at once that a side cannot be reached: no retries of a connection that
    // could not be made.
    config.weavy.http.retry_unreachable = false;
    config.mautic.http.retry_unreachable = false;
    // Every missing secret, at once.
    if let Err(e) = config.check_secrets() {
        r.fail(format!("credentials: {e}"));
    }
    let counter = crate::connector::RequestCounter::new();
    let mut fields = FieldLists::new();
    match Engine::weavy_client(&config, &counter) {
        Ok(weavy) => check_weavy(&mut r, &config, &weavy, &mut fields).await,
        Err(_) => r.skip("weavy: not checked (no password, see above)"),
    }
    match Engine::mautic_client(&config, &counter) {
        Ok(mautic) => check_mautic(&mut r, &config, &mautic, &mut fields).await,
        Err(_) => r.skip("mautic: not checked (no secret, see above)"),
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
        r.skip("mapping: not checked (some field lists could not be read, see above)");
    }
    database(&mut r, &config);
    finish(r)
}

async fn check_weavy(
    r: &mut Report,
    config: &Config,
    weavy: &crate::connector::weavy::WeavyClient,
    fields: &mut FieldLists,
) {
    let tables: Vec<RecordKind> = config
        .kinds()
        .into_iter()
        .filter(|k| k.side() == Side::Weavy)
        .collect();
    if let Err(e) = weavy.check_auth().await {
        r.fail(format!("weavy: {}", describe(&e)));
        r.skip(format!(
            "weavy: dictionaries, rights and reading of {} table(s) not checked (see above)",
            tables.len()
        ));
        return;
    }
    r.ok(format!(
        "weavy: authenticated as {} on project {} ({})",
        config.weavy.user, config.weavy.project_code, config.weavy.base_url
    ));
    let stopped = |r: &mut Report, e: &ConnectorError| {
        if stops_the_side(e) {
            r.skip("weavy: the other checks of weavy not made (see above)");
            true
        } else {
            false
        }
    };
    for &kind in &tables {
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
            Err(e) => {
                r.fail(format!(
                    "weavy: dictionary of '{}': {}",
                    kind.label(),
                    describe(&e)
                ));
                if stopped(r, &e) {
                    return;
                }
            }
        }
    }
    for (kind, right, why) in needed_rights(config) {
        match weavy.check_right(kind, right).await {
            Ok(()) => r.ok(format!(
                "weavy: '{}' on '{}' ({why})",
                right.studio_column(),
                kind.label()
            )),
            Err(e) => {
                r.fail(format!(
                    "weavy: '{}' on '{}' ({why}): {}",
                    right.studio_column(),
                    kind.label(),
                    describe(&e)
                ));
                if stopped(r, &e) {
                    return;
                }
            }
        }
    }
    // How weavy reads each table: what offset counts, the zone of srvDate and its filters.
    for &kind in &tables {
        match weavy.survey(kind).await {
            Ok(s) => r.ok(format!(
                "weavy: '{}' reads as: {}",
                kind.label(),
                s.describe(config.time_zone())
            )),
            Err(e) => {
                r.fail(format!(
                    "weavy: reading '{}': {}",
                    kind.label(),
                    describe(&e)
                ));
                if stopped(r, &e) {
                    return;
                }
            }
        }
    }
}

async fn check_mautic(
    r: &mut Report,
    config: &Config,
    mautic: &crate::connector::mautic::MauticClient,
    fields: &mut FieldLists,
) {
    if let Err(e) = mautic.check_auth().await {
        r.fail(format!("mautic: {}", describe(&e)));
        r.skip("mautic: field lists not checked (see above)");
        return;
    }
    r.ok(format!(
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
    ));
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
            Err(e) => {
                r.fail(format!("mautic: {} fields: {e}", kind.api_name()));
                if stops_the_side(&e) {
                    r.skip("mautic: the other field lists not read (see above)");
                    return;
                }
            }
        }
    }
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
    let failed = r
        .lines
        .iter()
        .filter(|l| l.outcome == Outcome::Fail)
        .count();
    if failed > 0 {
        Err(CmdError::ChecksFailed(failed))
    } else {
        if !r.quiet {
            println!("all {} checks passed", r.lines.len());
        }
        Ok(r.lines)
    }
}
