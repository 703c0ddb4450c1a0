//! `fieldsync demo`: the whole job on built-in simulators, with no set-up. Both simulators
//! start on loopback ports with a generated French B2B data set; fieldsync writes its config
//! and database into a folder, runs a first cycle, users then edit both sides (a real conflict,
//! a lead converted into a contact, a bounce, a new contact, a company that moved), a second
//! cycle runs, and the summary says what was linked, created, updated and skipped, and which
//! conflicts were decided how. Same seed, same story.

use super::{CmdError, private_file, progress::Bars};
use crate::config::Config;
use crate::model::{ConflictEntry, ConflictRule, RecordRef, Side, Value};
use crate::sim::SimPair;
use crate::sim::dataset::{DatasetSpec, Loaded, Plan};
use crate::store::{ConflictFilter, Store, StoreOptions};
use crate::sync::{CycleOptions, CycleReport, Engine};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// Run the whole sync on built-in simulators: two cycles with user edits in between.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Where to keep the demo's config and database (default: a new temporary folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The data set's seed: the same seed tells the same story.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The demo's data set: enough to show every rule, small enough to run in seconds.
pub fn spec(seed: u64) -> DatasetSpec {
    DatasetSpec {
        seed,
        companies: 40,
        weavy_contacts: 150,
        weavy_leads: 30,
        shared: 0.6,
        mautic_only_contacts: 40,
        duplicate_groups: 2,
        bounces: 4,
        anonymous: 25,
        without_email: 3,
        custom_fields: 2,
    }
}

fn say(text: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", text.as_ref());
    let _ = out.flush();
}

pub async fn run(args: &DemoArgs) -> Result<(), CmdError> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("fieldsync-demo-{}", std::process::id())),
    };
    // The demo starts from nothing: an earlier demo's database holds the state of simulators
    // that are gone (and the database refuses new ones).
    if dir.join("fieldsync.db").exists() {
        return Err(CmdError::Usage(format!(
            "{} already holds a fieldsync database (an earlier demo's?): the demo starts from nothing; remove {} or choose another --dir",
            dir.display(),
            dir.join("fieldsync.db").display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(|source| CmdError::Output {
        path: dir.clone(),
        source,
    })?;
    let pair = SimPair::start(args.seed)
        .await
        .map_err(|e| CmdError::Usage(format!("cannot start the simulators on loopback: {e}")))?;
    let plan = Plan::new(spec(args.seed));
    let loaded = plan.load(&pair);
    let db = dir.join("fieldsync.db");
    let config_path = dir.join("fieldsync.toml");
    let text = pair.config_toml(&db, &plan.person_fields_toml());
    private_file(&config_path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| CmdError::Output {
            path: config_path.clone(),
            source,
        })?;
    let config = Config::parse(&text)?;

    let s = &plan.spec;
    say(
        "fieldsync demo: weavy (CRM) and Webmecanik Automation (Mautic), both simulated on this machine\n",
    );
    say(format!(
        "  weavy  {}  project {}: {} companies, {} contacts, {} leads (Entrants)",
        pair.weavy.url(),
        pair.weavy.project_code(),
        plan.companies
            .iter()
            .filter(|c| c.weavy_id.is_some())
            .count(),
        pair.weavy.records("customercontact").len(),
        pair.weavy.records("marketinginbound").len(),
    ));
    say(format!(
        "  mautic {}: {} companies, {} contacts ({} anonymous visitors, {} without e-mail, {} bounced)",
        pair.mautic.url(),
        pair.mautic.companies().len(),
        pair.mautic.contacts().len(),
        s.anonymous,
        s.without_email,
        s.bounces
    ));
    say(format!(
        "  {} of the people are in both; {} e-mails are held by three weavy contacts each; some first names differ in case\n  config and database: {}\n",
        plan.people
            .iter()
            .filter(|p| p.in_mautic && p.weavy_id.is_some())
            .count(),
        s.duplicate_groups,
        dir.display()
    ));

    let store = Store::open(&db, &StoreOptions::default())?;
    let engine = Engine::from_config(config, store)?;

    say("first cycle: pull both sides, pair people and companies, fill in what each side lacks");
    let r1 = engine.cycle(CycleOptions::default(), &Bars::new()).await?;
    say(summary(&r1));

    say("meanwhile, users edit both sides:");
    for e in user_edits(&pair, &plan, &loaded) {
        say(format!("  - {e}"));
    }
    say("");
    say("second cycle: only what changed is read and written");
    let r2 = engine.cycle(CycleOptions::default(), &Bars::new()).await?;
    say(summary(&r2));

    say("decisions (who won and why; every losing value is kept in the conflict log):");
    let entries: Vec<ConflictEntry> = engine
        .store
        .conflicts(&ConflictFilter::default())
        .collect::<Result<_, _>>()?;
    let mut shown = 0;
    for e in entries
        .iter()
        .rev()
        .filter(|e| e.cycle == r2.cycle)
        .chain(entries.iter().filter(|e| e.cycle == r1.cycle))
    {
        if shown >= 8 {
            break;
        }
        say(format!("  - {}", story(&engine.store, e)));
        shown += 1;
    }
    if entries.len() > shown {
        say(format!("  ... and {} more", entries.len() - shown));
    }
    say(format!(
        "\nexplore:\n  fieldsync conflicts --db {db}\n  fieldsync conflicts --db {db} --format csv --rule newer_wins\n  fieldsync duplicates --db {db}\n  fieldsync status --db {db}\n  fieldsync history --db {db} contact:1\nthe demo folder is kept: {dir} (delete it when done)",
        db = db.display(),
        dir = dir.display()
    ));
    Ok(())
}

fn summary(r: &CycleReport) -> String {
    let list = |m: &std::collections::BTreeMap<String, u64>| {
        if m.is_empty() {
            "nothing".to_owned()
        } else {
            m.iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    format!(
        "  read {} records in {:.1}s; linked {} pairs; created {}; updated {}\n  skipped {} anonymous visitors and {} contacts without e-mail; {} duplicates left alone; {} lead(s) re-linked; {} conflict-log entries; {} write requests\n",
        r.total_pulled(),
        r.duration_ms as f64 / 1000.0,
        r.linked,
        list(&r.inserts),
        list(&r.updates),
        r.skipped_anonymous,
        r.skipped_no_email,
        r.duplicates,
        r.relinked,
        r.conflicts,
        r.total_write_requests()
    )
}

/// The edits users make between the two cycles; returns what each one was, in words.
fn user_edits(pair: &SimPair, plan: &Plan, loaded: &Loaded) -> Vec<String> {
    let mut said = Vec::new();
    let both: Vec<usize> = (0..plan.people.len())
        .filter(|&i| {
            let p = &plan.people[i];
            p.in_mautic
                && !p.lead
                && !p.bounced
                && !p.mautic_differs
                && p.weavy_id.as_deref().is_some_and(|id| id.starts_with('C'))
        })
        .collect();
    // A real conflict: the same phone edited on both sides; Mautic's edit comes two minutes later.
    if let Some(&i) = both.first() {
        let p = &plan.people[i];
        let (w, m) = (
            p.weavy_id.as_deref().unwrap_or_default(),
            loaded.mautic_people[i].unwrap_or_default(),
        );
        pair.weavy.edit(
            "customercontact",
            w,
            &[("phoneNumber", json!("+33 6 12 34 56 78"))],
        );
        pair.mautic
            .control()
            .update_knobs(|k| k.clock_offset = chrono::Duration::minutes(2));
        pair.mautic
            .edit_contact(m, &[("phone", json!("+33 6 87 65 43 21"))]);
        said.push(format!(
            "a salesperson sets {} {}'s phone to +33 6 12 34 56 78 in weavy; two minutes later marketing sets +33 6 87 65 43 21 in Mautic",
            p.first_name, p.last_name
        ));
    }
    // A lead converted: a Mautic-only person got an Entrant; sales creates a Contact for them.
    if let Some(i) = (0..plan.people.len())
        .find(|&i| plan.people[i].weavy_id.is_none() && plan.people[i].in_mautic)
    {
        let p = &plan.people[i];
        let customer = plan.companies.iter().find_map(|c| c.weavy_id.clone());
        let mut fields = vec![
            ("firstName", json!(p.first_name)),
            ("lastName", json!(p.last_name)),
            ("email", json!(p.email)),
        ];
        if let Some(c) = &customer {
            fields.push(("customer_ID", json!(c)));
        }
        pair.weavy.insert("customercontact", "C900001", &fields);
        said.push(format!(
            "sales converts the lead {} {} ({}) into Contact C900001",
            p.first_name, p.last_name, p.email
        ));
    }
    // A bounce in Mautic.
    if let Some(&i) = both.get(1) {
        let p = &plan.people[i];
        if let Some(m) = loaded.mautic_people[i] {
            pair.mautic.add_dnc(m, 2);
            said.push(format!("an e-mail to {} bounces in Mautic (NPAI)", p.email));
        }
    }
    // Someone fills in a form: a new Mautic contact.
    pair.mautic.add_contact(&[
        ("firstname", json!("Margaux")),
        ("lastname", json!("Lemoine")),
        ("email", json!("margaux.lemoine@exemple.fr")),
    ]);
    said.push("Margaux Lemoine fills in a form on the website: a new Mautic contact".into());
    // A company moved.
    if let Some(c) = plan
        .companies
        .iter()
        .find(|c| c.weavy_id.is_some() && c.in_mautic)
    {
        pair.weavy.edit(
            "customer",
            c.weavy_id.as_deref().unwrap_or_default(),
            &[("city", json!("Bordeaux")), ("postalCode", json!("33000"))],
        );
        said.push(format!("{} moves to Bordeaux (edited in weavy)", c.name));
    }
    said
}

/// A conflict-log entry in words.
fn story(store: &Store, e: &ConflictEntry) -> String {
    let who = person(store, e.weavy.record.as_ref().or(e.mautic.record.as_ref()));
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into())
    };
    let value = |v: &Value| {
        if v.is_blank() {
            "(blank)".to_owned()
        } else {
            format!("\"{}\"", v.canonical())
        }
    };
    match e.rule {
        ConflictRule::Merge(rule) => {
            let why = match rule {
                crate::model::Rule::NewerWins => "the newer change wins",
                crate::model::Rule::TiePreferredSide => {
                    "changed at the same time: weavy is preferred on a tie"
                }
                crate::model::Rule::TieSmallerValue => {
                    "changed at the same time: the smaller value wins"
                }
                crate::model::Rule::WeavyPriority => "the mapping says weavy wins",
                crate::model::Rule::MauticPriority => "the mapping says Mautic wins",
                crate::model::Rule::BlankKept => "a blank never erases a value",
                _ => rule.as_str(),
            };
            let winner = match e.winner {
                Some(Side::Weavy) => "weavy won",
                Some(Side::Mautic) => "Mautic won",
                None => "nothing written",
            };
            let note = if e.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", e.note)
            };
            format!(
                "{} of {who}: weavy {} ({}) vs Mautic {} ({}): {winner}, {why} [{}]{note}",
                e.field,
                value(&e.weavy.value),
                time(e.weavy.at),
                value(&e.mautic.value),
                time(e.mautic.at),
                rule
            )
        }
        other => format!("{who}: {} [{other}]", e.note),
    }
}

/// "First Last <e-mail>" or the company name, from what the store knows.
fn person(store: &Store, r: Option<&RecordRef>) -> String {
    let Some(r) = r else { return "?".into() };
    let Ok(Some(s)) = store.record(r) else {
        return format!("{}:{}", r.kind.api_name(), r.id);
    };
    let text = |f: &str| {
        s.fields
            .get(f)
            .and_then(|o| o.value.as_text().map(str::trim).map(str::to_owned))
            .unwrap_or_default()
    };
    match r.kind.entity_kind() {
        crate::model::EntityKind::Person => format!(
            "{} {} <{}>",
            text("firstname"),
            text("lastname"),
            s.email.clone().unwrap_or_default()
        ),
        crate::model::EntityKind::Company => text("name"),
    }
}
