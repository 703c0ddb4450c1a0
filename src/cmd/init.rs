//! `fieldsync init`: writes a commented configuration file: both connections (secrets as the
//! names of environment variables), every setting with its default and what it does, and the
//! default mapping written out so it can be edited in place.

use super::{CmdError, private_file};
use crate::config::{Config, FieldMapping, default_company_fields, default_person_fields};
use std::io::Write;
use std::path::PathBuf;

/// Write a commented configuration file to start from.
#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// Where to write it.
    #[arg(
        long,
        short,
        value_name = "PATH",
        default_value = "fieldsync.toml",
        env = "FIELDSYNC_CONFIG"
    )]
    pub config: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Where the database goes (written as `store.path`; by default `fieldsync.db` beside the
    /// config file). A service keeps its config in /etc and its state in /var/lib:
    /// `--db /var/lib/fieldsync/fieldsync.db`.
    #[arg(long, value_name = "PATH", env = "FIELDSYNC_DB")]
    pub db: Option<PathBuf>,
    /// weavy API address: https://api.weavy.divalto.com (Europe) or https://swing-ca.swingmobility.com.
    #[arg(long, default_value = "https://api.weavy.divalto.com", value_parser = http_url)]
    pub weavy_url: String,
    /// The weavy project code.
    #[arg(long, default_value = "MYPROJECT")]
    pub weavy_project: String,
    /// The weavy API user.
    #[arg(long, default_value = "api.fieldsync")]
    pub weavy_user: String,
    /// The Webmecanik Automation (Mautic) address.
    #[arg(long, default_value = "https://mycompany.webmecanik.com", value_parser = http_url)]
    pub mautic_url: String,
    /// The public key of the Mautic API credential (OAuth2).
    #[arg(long, default_value = "1_replace-with-the-public-key")]
    pub mautic_client_id: String,
}

/// An address given on the command line, checked as the config checks it.
fn http_url(s: &str) -> Result<String, String> {
    crate::config::check_http_url(s).map(|()| s.trim().to_owned())
}

pub fn run(args: &InitArgs) -> Result<PathBuf, CmdError> {
    if args.config.exists() && !args.force {
        return Err(CmdError::Usage(format!(
            "{} already exists: pass --force to overwrite it, or --config to write elsewhere",
            args.config.display()
        )));
    }
    let text = template(args)?;
    // What we write must be what we read.
    Config::parse(&text).map_err(|e| {
        CmdError::Usage(format!("internal error: the template does not parse: {e}"))
    })?;
    let mut f = private_file(&args.config).map_err(|source| CmdError::Output {
        path: args.config.clone(),
        source,
    })?;
    f.write_all(text.as_bytes())
        .map_err(|source| CmdError::Output {
            path: args.config.clone(),
            source,
        })?;
    println!(
        "wrote {} (readable by you only)\nnext: set FIELDSYNC_WEAVY_PASSWORD and FIELDSYNC_MAUTIC_CLIENT_SECRET, then run `fieldsync check`",
        args.config.display()
    );
    Ok(args.config.clone())
}

fn mapping_toml(section: &str, mappings: &[FieldMapping]) -> String {
    let mut s = String::new();
    for m in mappings {
        s += &format!("\n[[{section}]]\nname = \"{}\"\n", m.name);
        if let Some(w) = &m.weavy {
            s += &format!("weavy = \"{w}\"\n");
        }
        if let Some(e) = &m.entrant {
            s += &format!("entrant = \"{e}\"\n");
        }
        if let Some(a) = &m.mautic {
            s += &format!("mautic = \"{a}\"\n");
        }
        s += &format!("direction = \"{}\"\n", m.direction);
        if m.field_type != crate::model::FieldType::Text {
            s += &format!("type = \"{}\"\n", m.field_type);
        }
        if m.trim {
            s += "trim = true\n";
        }
        if m.ignore_case {
            s += "ignore_case = true\n";
        }
        if m.overwrite_with_blank {
            s += "overwrite_with_blank = true\n";
        }
    }
    s
}

/// The commented configuration.
pub fn template(a: &InitArgs) -> Result<String, CmdError> {
    // A path given here is the command line's (relative to where it runs); the config's is
    // relative to the config file: write it absolute.
    let store_path = match &a.db {
        None => "fieldsync.db".to_owned(),
        Some(p) => std::path::absolute(p)
            .map_err(|source| CmdError::Output {
                path: p.clone(),
                source,
            })?
            .to_str()
            .ok_or_else(|| {
                CmdError::Usage(format!(
                    "--db {}: the path is not valid UTF-8; choose another",
                    p.display()
                ))
            })?
            .to_owned(),
    };
    Ok(format!(
        r##"# fieldsync configuration.
# Check it with `fieldsync check`; see what a sync would do with `fieldsync sync --dry-run`.
# Durations are written like 15m, 90s, 1h30m. Secrets are never written here: they are read
# from the environment variables named below.

[weavy]
# API address: https://api.weavy.divalto.com (Europe) or https://swing-ca.swingmobility.com
base_url = "{weavy_url}"
project_code = "{weavy_project}"
user = "{weavy_user}"
# The environment variable holding the user's password.
password_env = "FIELDSYNC_WEAVY_PASSWORD"
# weavy's srvDate is in the project's local time: its IANA time zone.
time_zone = "Europe/Paris"

# [weavy.http]                  # HTTP tuning, defaults shown
# timeout = "60s"
# connect_timeout = "10s"
# max_attempts = 6              # per call, the first included (timeouts, 5xx, 429 are retried)
# base_backoff = "250ms"        # doubled at each retry, with jitter
# max_backoff = "30s"
# max_retry_wait = "5m"         # a Retry-After longer than this fails the call instead
# max_body_bytes = 67108864     # answers larger than this are refused
# concurrency = 4               # requests in flight at once (weavy writes one record a call)

[mautic]
base_url = "{mautic_url}"
# "oauth2" (API credentials created by an admin: client_id + client secret) or "basic".
auth = "oauth2"
client_id = "{mautic_client_id}"
client_secret_env = "FIELDSYNC_MAUTIC_CLIENT_SECRET"
# With auth = "basic":
# user = "api.fieldsync"
# password_env = "FIELDSYNC_MAUTIC_PASSWORD"
# Mautic before 2025 leaves date_modified empty until a record's first edit: also read those.
null_date_modified_fallback = true
# page_size = 200               # records per list call (at most 200)
# batch_size = 200              # records per batch write (Mautic refuses more than 200)
# [mautic.http] takes the same settings as [weavy.http].

[sync]
# What syncs: companies (weavy customers, Mautic companies), contacts (weavy Contacts, Mautic
# contacts) and leads (weavy Entrants, for Mautic contacts with no weavy Contact).
objects = ["companies", "contacts", "leads"]
# Time between two cycles of `fieldsync run`.
period = "15m"
# Each pull starts this long before where the last one ended, so nothing is missed at the edge.
overlap_window = "10m"
# A cycle reads every record of both sides again when the last full read is this old ("0":
# never), so that whatever an incremental pull could miss is healed within that time.
full_every = "24h"
# Two changes of one field this close in time are a tie...
tie_window = "1s"
# ...won by this side ("weavy", "mautic", or "none": then the byte-wise smaller value).
preferred_side = "weavy"
# How companies are matched: "name" (case and spaces ignored), "siret" (14 digits, checked),
# or "idcrm" (a Mautic company field holding the weavy customer id, filled in by fieldsync).
company_key = "name"
# With company_key = "siret": the company mapping that holds the SIRET.
siret_field = "siret"
# With company_key = "idcrm": the Mautic company field's alias.
idcrm_field = "idcrm"
# A contact's company follows on the other side once both companies are linked.
company_relation = true
# Which records fieldsync may create (it never deletes anything):
create_weavy_entrants = true     # a weavy Entrant for a Mautic contact with no weavy Contact
create_mautic_contacts = true    # a Mautic contact for a weavy Contact or Entrant
create_weavy_companies = true    # a weavy customer for a Mautic company
create_mautic_companies = true   # a Mautic company for a weavy customer
# A write a side refuses this many cycles in a row is dropped and logged.
max_patch_attempts = 5

[store]
# The database (a directory), relative to this file. `--db` (or FIELDSYNC_DB) on the command
# line overrides it.
path = {store_path}
# Memory the database may use for its cache, in MiB (sled holds about twice this). Beyond
# the cache, the database keeps a record of each of its pages in memory, which grows with the
# data: about 50 MB for 100,000 Mautic contacts synced (docs/PERFORMANCE.md, Memory).
cache_mb = 32

# Field mappings. Each joins a canonical name (used in logs and the audit) to a weavy field
# and a Mautic alias, with:
#   direction = "both"         both ways, the newest change wins ("Sync both ways")
#             | "weavy_wins"   weavy's value always ("Sync only to Mautic")
#             | "mautic_wins"  Mautic's value always ("Sync only to the integration")
#   type = "text" | "number" | "boolean" | "date" | "datetime" | "list"
#   trim = true                leading/trailing spaces do not make two values different
#   ignore_case = true         case does not make two values different
#   overwrite_with_blank = true   a blank may erase a value (never, by default)
#   entrant = "field"          the field on weavy Entrants when it differs ("-": not synced
#                              for Entrants)
# `fieldsync fields` lists both sides' fields, custom ones included.
# People: weavy Contact (customercontact) and Entrant (marketinginbound), Mautic contact.
# "npai" carries Mautic's bounces (Do Not Contact, bounced) to weavy.
{person}
# Companies: weavy customer, Mautic company.
{company}"##,
        weavy_url = a.weavy_url,
        weavy_project = a.weavy_project,
        weavy_user = a.weavy_user,
        mautic_url = a.mautic_url,
        mautic_client_id = a.mautic_client_id,
        person = mapping_toml("person_fields", &default_person_fields()),
        company = mapping_toml("company_fields", &default_company_fields()),
        store_path = toml::Value::String(store_path),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        init: InitArgs,
    }

    #[test]
    fn the_template_parses_to_the_defaults() {
        let args = T::parse_from(["x"]).init;
        let c = Config::parse(&template(&args).unwrap()).unwrap();
        assert_eq!(c.person_fields, default_person_fields());
        assert_eq!(c.company_fields, default_company_fields());
        let d = crate::config::SyncConfig::default();
        assert_eq!(
            (c.sync.period, c.sync.tie_window, c.sync.max_patch_attempts),
            (d.period, d.tie_window, d.max_patch_attempts)
        );
        assert!(
            !template(&args).unwrap().contains("password ="),
            "no secret in the template"
        );
    }

    #[test]
    fn a_database_path_is_written_absolute_and_quoted() {
        let args = T::parse_from(["x", "--db", "/var/lib/fieldsync/my \"db\""]).init;
        let c = Config::parse(&template(&args).unwrap()).unwrap();
        assert_eq!(
            c.store.path,
            std::path::Path::new("/var/lib/fieldsync/my \"db\"")
        );
        let args = T::parse_from(["x", "--db", "rel.db"]).init;
        let c = Config::parse(&template(&args).unwrap()).unwrap();
        assert!(c.store.path.is_absolute() && c.store.path.ends_with("rel.db"));
    }
}
