//! The scale benchmark of a sync cycle (`cargo bench --bench cycle`), shared with its smoke
//! test (`tests/bench_cycle.rs`).
//!
//! The parent process runs both simulators (one tokio runtime) and seeds them with the scale
//! data set (`DatasetSpec::scale`: 100,000 Mautic contacts, 30,000 weavy contacts and leads,
//! 10,000 companies, 20 person mappings of which 14 custom, 1 % duplicate e-mails), dated a
//! day back so that they read as old data. Then, for each of
//!
//! 1. the first full cycle,
//! 2. a no-change cycle (15 simulated minutes later: it reads back the first cycle's writes,
//!    which must make no write),
//! 3. an incremental cycle (15 minutes later again, after 1 % of each side's records were
//!    edited),
//!
//! it keeps the simulators' state, runs the cycle as users run it, `fieldsync sync` in a process
//! of its own (`cycle.rs`), while the simulators record every request, then puts the simulators
//! back in the state the cycle met and runs the floor in a child process (re-executing this
//! binary with `--child`): a bare client paging through the records the cycle read and
//! replaying the cycle's write requests (`floor.rs`). The CPU time and peak RSS of each are
//! its own process's; the simulators' cost stays in the parent. Last, another child opens the
//! database as the cycle left it and does nothing else (`measure::open_store`): the memory
//! that alone takes, which grows with the data whatever a process then does.
//!
//! The results are printed as tables and written as JSON (`target/bench-cycle.json` unless
//! `--json PATH`); `--scale F` multiplies the data set; `--repeat N` runs each cycle and its
//! floor N times from the same state and reports the median ratio (`--full-only`: the first
//! full cycle only).

mod child;
mod cycle;
mod floor;
pub mod measure;
mod table;

use chrono::{DateTime, Utc};
use fieldsync::config::Config;
use fieldsync::model::{RecordKind, Side};
use fieldsync::sim::dataset::{DatasetSpec, Plan};
use fieldsync::sim::mautic::MauticSnapshot;
use fieldsync::sim::weavy::WeavySnapshot;
use fieldsync::sim::{LoggedRequest, SimPair};
use fieldsync::sync::CycleReport;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// What a child process of this binary is asked to do.
#[derive(Debug, Serialize, Deserialize)]
pub enum Task {
    /// The floor of a cycle.
    Floor(Box<FloorSpec>),
    /// Open the database and nothing else: what the store takes in memory before any work.
    OpenStore(OpenSpec),
}

/// The database a child opens to measure what that alone takes (`measure::open_store`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenSpec {
    pub path: PathBuf,
    pub cache_mb: u64,
}

/// What opening the database took in a process of its own (the bench's, with the system's
/// allocator, not the `fieldsync` binary's jemalloc).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct OpenOutcome {
    /// The child's resident set before it opened the database.
    pub before_rss: u64,
    /// Its peak resident set once the database was open.
    pub peak_rss: u64,
}

impl OpenOutcome {
    /// The memory the open took at its peak: sled's record of every page of the database (held
    /// outside its cache for as long as the database is open) and what its recovery reads (its
    /// snapshot, the log written since).
    pub fn bytes(&self) -> u64 {
        self.peak_rss.saturating_sub(self.before_rss)
    }
}

pub use fieldsync::cmd::sync::StepTime;

/// What was measured of a cycle (`cycle.rs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CycleOutcome {
    pub report: CycleReport,
    /// The cycle, from its start to its report (the engine's own clock).
    pub wall_s: f64,
    /// CPU time of the `fieldsync sync` process, all of it (start-up, opening the store and
    /// closing it included).
    pub cpu_s: f64,
    /// Peak resident set size of the process.
    pub peak_rss: u64,
    /// sled's `size_on_disk` after a flush.
    pub db_bytes: u64,
    /// The blocks the database's files take on disk.
    pub db_du_bytes: u64,
    /// Entries of the observation log (one per sighting with changed fields).
    pub observation_entries: usize,
    pub records: usize,
    pub entities: usize,
    /// Where each table's pull started (its cursor less the overlap), by table.
    pub since: BTreeMap<String, Option<DateTime<Utc>>>,
    pub steps: Vec<StepTime>,
}

/// One table the floor reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FloorRead {
    pub side: String,
    /// weavy entity, or Mautic `contacts` / `companies`.
    pub table: String,
    /// The "changed since" value as the side's filter takes it.
    pub filter_value: Option<String>,
}

/// What the floor child sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FloorSpec {
    pub weavy_url: String,
    pub project: String,
    pub user: String,
    pub password: String,
    pub mautic_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub mautic_page_size: usize,
    pub fallback: bool,
    pub reads: Vec<FloorRead>,
    /// JSON Lines of [`Replay`].
    pub writes_file: PathBuf,
    pub weavy_concurrency: usize,
    pub mautic_concurrency: usize,
}

/// A write request to replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replay {
    pub side: String,
    /// Sent in the companies' phase (before any person is merged).
    pub company_phase: bool,
    /// The request counter's kind (`insert`, `batch_update`, `link`...).
    pub kind: String,
    pub method: String,
    pub uri: String,
    pub content_type: Option<String>,
    pub body: String,
}

/// What the floor child measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FloorOutcome {
    pub wall_s: f64,
    pub read_s: f64,
    pub write_s: f64,
    pub cpu_s: f64,
    pub peak_rss: u64,
    /// By "side kind".
    pub requests: BTreeMap<String, u64>,
    /// Records read, by table.
    pub records: BTreeMap<String, u64>,
    /// Answers that were not a success (there should be none).
    pub failed: u64,
}

/// The least number of requests a cycle's work takes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Minimum {
    /// ceil(records / page size), by table.
    pub reads: u64,
    /// ceil(writes / 200) per Mautic table and operation.
    pub mautic_batches: u64,
    /// One call per record written.
    pub weavy_writes: u64,
    /// One call per Mautic contact linked to a company (Mautic has no batch for links).
    pub mautic_links: u64,
    pub total: u64,
}

/// One measured cycle with its floor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Phase {
    pub name: String,
    pub cycle: CycleOutcome,
    pub floor: FloorOutcome,
    pub minimum: Minimum,
    /// Requests the cycle sent (all kinds), and of which writes.
    pub requests: u64,
    pub write_requests: u64,
    /// cycle wall time / floor wall time: the median of the runs' ratios. The other fields
    /// are those of the run whose ratio is that median (the lower of the two middle ones for
    /// an even number of runs).
    pub ratio: f64,
    /// Every run of the cycle and its floor, in the order they ran (one unless `--repeat`).
    pub runs: Vec<Run>,
    /// The simulators' CPU time during the cycle (the parent process).
    pub sim_cpu_s: f64,
    /// Observations stored so far, all cycles.
    pub observations_total: u64,
    pub bytes_per_observation: f64,
    /// Opening the database as this cycle left it, alone, in a child process: the part of any
    /// fieldsync process's memory that grows with the data, whatever it then does.
    pub open: OpenOutcome,
}

/// One run of a cycle and its floor.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Run {
    pub cycle_s: f64,
    pub floor_s: f64,
    pub ratio: f64,
    /// Requests the cycle sent, and of which writes: the same in every run of a phase, as
    /// every run starts from the same state.
    pub requests: u64,
    pub write_requests: u64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub scale: f64,
    pub data_set: BTreeMap<String, u64>,
    pub plan_s: f64,
    pub load_s: f64,
    pub phases: Vec<Phase>,
    pub targets: Vec<table::Target>,
}

/// How the bench is run.
#[derive(Debug, Clone)]
pub struct Options {
    pub scale: f64,
    pub json: PathBuf,
    /// Keep the work directory (database, config, request logs).
    pub keep: bool,
    pub seed: u64,
    /// Measure the first full cycle and its floor only (`--full-only`): quicker A/B runs.
    pub full_only: bool,
    /// Runs of each cycle and its floor (`--repeat N`), each from the same state: the
    /// simulators and the database are put back as they were before the first run.
    pub repeat: usize,
}

impl Options {
    /// Reads `--scale F`, `--json PATH`, `--seed N`, `--keep`, `--full-only`, `--repeat N`;
    /// ignores what cargo adds (`--bench`).
    pub fn parse(args: &[String], default_json: PathBuf) -> Result<Options, String> {
        let mut o = Options {
            scale: 1.0,
            json: default_json,
            keep: false,
            seed: 2026,
            full_only: false,
            repeat: 1,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "--scale" => {
                    o.scale = value("--scale")?
                        .parse()
                        .map_err(|e| format!("--scale: {e}"))?
                }
                "--json" => o.json = PathBuf::from(value("--json")?),
                "--seed" => {
                    o.seed = value("--seed")?
                        .parse()
                        .map_err(|e| format!("--seed: {e}"))?
                }
                "--keep" => o.keep = true,
                "--full-only" => o.full_only = true,
                "--repeat" => {
                    o.repeat = value("--repeat")?
                        .parse()
                        .map_err(|e| format!("--repeat: {e}"))?
                }
                _ => {}
            }
        }
        if o.scale.is_nan() || o.scale <= 0.0 {
            return Err("--scale must be positive".into());
        }
        if o.repeat == 0 {
            return Err("--repeat must be at least 1".into());
        }
        Ok(o)
    }
}

/// The entry point of a binary that runs the bench: a child runs its task, the parent runs
/// everything and prints the tables.
pub fn main(default_json: PathBuf) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let (Some(task), Some(out)) = (args.get(i + 1), args.get(i + 2)) else {
            eprintln!("--child TASK OUT");
            return ExitCode::FAILURE;
        };
        return match child::run(Path::new(task), Path::new(out)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench child: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let options = match Options::parse(&args, default_json) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&options) {
        Ok(results) => {
            print!("{}", table_text(&results));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The results as the bench prints them.
pub fn table_text(results: &Results) -> String {
    table::render(results)
}

fn say(s: impl AsRef<str>) {
    use std::io::Write;
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{}", s.as_ref());
}

/// Runs the whole bench; writes the JSON.
pub fn run(options: &Options) -> Result<Results, String> {
    let work = tempfile::Builder::new()
        .prefix("fieldsync-bench-cycle-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let dir = if options.keep {
        let p = work.keep();
        say(format!("work directory kept: {}", p.display()));
        p
    } else {
        work.path().to_path_buf()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sim")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let results = runtime.block_on(run_phases(options, &dir))?;
    drop(runtime);
    if let Some(parent) = options.json.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(
        &options.json,
        serde_json::to_vec_pretty(&results).map_err(|e| e.to_string())?,
    )
    .map_err(|e| format!("writing {}: {e}", options.json.display()))?;
    say(format!("results written to {}", options.json.display()));
    Ok(results)
}

fn advance_clocks(pair: &SimPair, by: chrono::Duration) {
    for c in [pair.weavy.control(), pair.mautic.control()] {
        c.update_knobs(|k| k.clock_offset += by);
    }
}

async fn run_phases(options: &Options, dir: &Path) -> Result<Results, String> {
    let pair = SimPair::start(options.seed)
        .await
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let plan = Plan::new(DatasetSpec::scale(options.seed, options.scale));
    let plan_s = t.elapsed().as_secs_f64();
    // The data is a day old when fieldsync first sees it.
    advance_clocks(&pair, -chrono::Duration::days(1));
    let t = Instant::now();
    plan.load(&pair);
    let load_s = t.elapsed().as_secs_f64();
    advance_clocks(&pair, chrono::Duration::days(1));
    let data_set = data_set(&plan, &pair);
    say(format!(
        "data set planned in {plan_s:.1}s, loaded in {load_s:.1}s: {data_set:?}"
    ));

    let db = dir.join("db");
    let extra = plan.person_fields_toml();
    // Generous timeouts: a retry would blur the numbers (the report counts retries).
    let toml = pair
        .config_toml(&db, &extra)
        .replace("timeout = \"5s\"", "timeout = \"120s\"");
    let config_path = dir.join("fieldsync.toml");
    write_private(&config_path, &toml)?;
    let config = Config::parse(&toml).map_err(|e| e.to_string())?;

    let mut phases: Vec<Phase> = Vec::new();
    let mut observations_total = 0u64;
    let cycles = if options.full_only { 1 } else { 3 };
    for (n, name) in ["full", "no-change", "incremental"]
        .into_iter()
        .take(cycles)
        .enumerate()
    {
        if n > 0 {
            // The next period.
            advance_clocks(&pair, chrono::Duration::minutes(15));
        }
        if name == "incremental" {
            let edited = edit_one_percent(&pair);
            say(format!("edited: {edited:?}"));
        }
        let before = (pair.weavy.snapshot(), pair.mautic.snapshot());
        // The database as this cycle finds it, to put back before each run after the first.
        let db_before = dir.join("db-before-run");
        if options.repeat > 1 {
            replace_dir(&db, &db_before)?;
        }
        let mut measured: Vec<Measured> = Vec::new();
        for run in 0..options.repeat {
            if run > 0 {
                pair.weavy.restore(&before.0);
                pair.mautic.restore(&before.1);
                replace_dir(&db_before, &db)?;
            }
            let label = if options.repeat > 1 {
                format!("{name} cycle, run {} of {}", run + 1, options.repeat)
            } else {
                format!("{name} cycle")
            };
            measured.push(run_once(&pair, dir, n, &label, &before, &config_path, &config).await?);
        }
        let _ = std::fs::remove_dir_all(&db_before);
        drop(before);
        let open: OpenOutcome = spawn_child(
            dir,
            &format!("open-{n}"),
            &Task::OpenStore(OpenSpec {
                path: config.store.path.clone(),
                cache_mb: config.store.cache_mb,
            }),
        )
        .await?;
        let runs: Vec<Run> = measured
            .iter()
            .map(|m| Run {
                cycle_s: m.cycle.wall_s,
                floor_s: m.floor.wall_s,
                ratio: m.cycle.wall_s / m.floor.wall_s.max(1e-9),
                requests: m.cycle.report.requests.values().sum(),
                write_requests: m.cycle.report.total_write_requests(),
            })
            .collect();
        let (ratio, shown) = median_run(&runs);
        let Measured {
            cycle,
            floor,
            sim_cpu_s,
        } = measured.swap_remove(shown);

        observations_total += cycle.report.observations;
        let minimum = minimum(&config, &cycle.report);
        let requests = cycle.report.requests.values().sum();
        phases.push(Phase {
            name: name.to_owned(),
            requests,
            write_requests: cycle.report.total_write_requests(),
            ratio,
            runs,
            sim_cpu_s,
            observations_total,
            bytes_per_observation: cycle.db_bytes as f64 / observations_total.max(1) as f64,
            open,
            cycle,
            floor,
            minimum,
        });
    }
    let targets = table::targets(&phases);
    Ok(Results {
        scale: options.scale,
        data_set,
        plan_s,
        load_s,
        phases,
        targets,
    })
}

/// The median of the runs' ratios, and the run a phase shows: the one with that median, the
/// lower of the two middle ones for an even number of runs (whose median is their mean).
pub fn median_run(runs: &[Run]) -> (f64, usize) {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|&a, &b| runs[a].ratio.total_cmp(&runs[b].ratio));
    let middle = order.len() / 2;
    let ratio = if order.len() % 2 == 1 {
        runs[order[middle]].ratio
    } else {
        (runs[order[middle - 1]].ratio + runs[order[middle]].ratio) / 2.0
    };
    (ratio, order[(order.len() - 1) / 2])
}

/// One run of a cycle and of its floor.
struct Measured {
    cycle: CycleOutcome,
    floor: FloorOutcome,
    sim_cpu_s: f64,
}

/// Runs a cycle from the simulators' state `before`, then its floor against that same state;
/// leaves the simulators as the cycle left them.
async fn run_once(
    pair: &SimPair,
    dir: &Path,
    n: usize,
    label: &str,
    before: &(WeavySnapshot, MauticSnapshot),
    config_path: &Path,
    config: &Config,
) -> Result<Measured, String> {
    for c in [pair.weavy.control(), pair.mautic.control()] {
        c.reset_counters();
        let _ = c.take_requests();
        c.record_requests(true);
    }
    say(format!("{label}..."));
    let sim_cpu0 = measure::cpu_seconds();
    let cycle = cycle::run(dir, &format!("cycle-{n}"), config_path, config).await?;
    let sim_cpu_s = measure::cpu_seconds() - sim_cpu0;
    let mut log = Vec::new();
    for (side, c) in [
        (Side::Weavy, pair.weavy.control()),
        (Side::Mautic, pair.mautic.control()),
    ] {
        c.record_requests(false);
        log.extend(c.take_requests().into_iter().map(|r| (side, r)));
    }
    say(format!(
        "  {:.2}s, {} requests",
        cycle.wall_s,
        cycle.report.requests.values().sum::<u64>()
    ));

    // The floor, against the state the cycle met.
    let after = (pair.weavy.snapshot(), pair.mautic.snapshot());
    pair.weavy.restore(&before.0);
    pair.mautic.restore(&before.1);
    let writes_file = dir.join(format!("writes-{n}.jsonl"));
    let replays = write_replays(&writes_file, &log)?;
    drop(log);
    let spec = floor_spec(pair, config, &cycle, writes_file)?;
    say(format!("  floor ({replays} writes to replay)..."));
    let floor: FloorOutcome =
        spawn_child(dir, &format!("floor-{n}"), &Task::Floor(Box::new(spec))).await?;
    pair.weavy.restore(&after.0);
    pair.mautic.restore(&after.1);
    say(format!("  floor {:.2}s", floor.wall_s));
    Ok(Measured {
        cycle,
        floor,
        sim_cpu_s,
    })
}

/// Makes `to` a copy of the directory `from` (a closed sled database: plain files, one level
/// of subdirectories), or removes `to` when `from` does not exist.
fn replace_dir(from: &Path, to: &Path) -> Result<(), String> {
    fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let target = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy(&entry.path(), &target)?;
            } else {
                std::fs::copy(entry.path(), target)?;
            }
        }
        Ok(())
    }
    match std::fs::remove_dir_all(to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("removing {}: {e}", to.display()));
        }
        _ => {}
    }
    if from.exists() {
        copy(from, to)
            .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))?;
    }
    Ok(())
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| e.to_string())
}

/// Runs a child process of this binary on `task`; returns what it wrote.
async fn spawn_child<T: for<'de> Deserialize<'de>>(
    dir: &Path,
    name: &str,
    task: &Task,
) -> Result<T, String> {
    let task_file = dir.join(format!("{name}.task.json"));
    let out_file = dir.join(format!("{name}.out.json"));
    std::fs::write(
        &task_file,
        serde_json::to_vec(task).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    // `BENCH_CYCLE_WRAP="valgrind --tool=callgrind"` runs the children under a profiler.
    let wrap = std::env::var("BENCH_CYCLE_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = tokio::process::Command::new(program);
            c.args(words).arg(exe);
            c
        }
        None => tokio::process::Command::new(exe),
    };
    let status = command
        .arg("--child")
        .arg(&task_file)
        .arg(&out_file)
        .status()
        .await
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("child {name} failed: {status}"));
    }
    serde_json::from_slice(&std::fs::read(&out_file).map_err(|e| e.to_string())?)
        .map_err(|e| format!("child {name}'s answer: {e}"))
}

/// What was loaded, counted on the simulators.
fn data_set(plan: &Plan, pair: &SimPair) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for t in ["customer", "customercontact", "marketinginbound"] {
        m.insert(format!("weavy {t}"), pair.weavy.ids(t).len() as u64);
    }
    m.insert(
        "mautic contacts (identified)".into(),
        pair.mautic.contact_ids().len() as u64,
    );
    m.insert(
        "mautic anonymous visitors".into(),
        plan.spec.anonymous as u64,
    );
    m.insert(
        "mautic companies".into(),
        pair.mautic.company_ids().len() as u64,
    );
    m.insert("person mappings".into(), 6 + plan.spec.custom_fields as u64);
    m.insert(
        "duplicate weavy records".into(),
        2 * plan.spec.duplicate_groups as u64,
    );
    m
}

/// Edits 1 % of each side's records as users would: every hundredth Mautic contact (its
/// phone) and company (its phone), every hundredth weavy customer (its city), Contact and
/// Entrant (its first name). Different fields on each side: no conflict to decide by clock.
fn edit_one_percent(pair: &SimPair) -> BTreeMap<String, u64> {
    let mut done = BTreeMap::new();
    let pick = |i: usize| i % 100 == 50;
    for (i, id) in pair.mautic.contact_ids().into_iter().enumerate() {
        if pick(i) {
            pair.mautic
                .edit_contact(id, &[("phone", json!(format!("+33 9 00 {:06}", i)))]);
            *done.entry("mautic contacts".to_owned()).or_default() += 1;
        }
    }
    for (i, id) in pair.mautic.company_ids().into_iter().enumerate() {
        if pick(i) {
            pair.mautic
                .edit_company(id, &[("companyphone", json!(format!("+33 8 00 {:06}", i)))]);
            *done.entry("mautic companies".to_owned()).or_default() += 1;
        }
    }
    for (table, field) in [
        ("customer", "city"),
        ("customercontact", "firstName"),
        ("marketinginbound", "firstName"),
    ] {
        for (i, id) in pair.weavy.ids(table).into_iter().enumerate() {
            if pick(i) {
                pair.weavy
                    .edit(table, &id, &[(field, json!(format!("Édité {i}")))]);
                *done.entry(format!("weavy {table}")).or_default() += 1;
            }
        }
    }
    done
}

/// The request counter's kind of a simulator route, and whether it writes.
fn kind_of(side: Side, r: &LoggedRequest) -> Option<&'static str> {
    match side {
        Side::Weavy => match (r.method.as_str(), r.route.as_str()) {
            ("POST", "/v1/Data/{project}/{entity}") => Some("insert"),
            ("PUT", "/v1/Data/{project}/{entity}/{id}") => Some("update"),
            _ => None,
        },
        Side::Mautic => {
            if r.method == "GET" {
                None
            } else if r.route.ends_with("/batch/new") {
                Some("batch_insert")
            } else if r.route.ends_with("/batch/edit") {
                Some("batch_update")
            } else if r.route.ends_with("/new") {
                Some("insert")
            } else if r.route.ends_with("/edit") {
                Some("update")
            } else if r.route.contains("/dnc/") {
                Some("dnc")
            } else if r.route.contains("/contact/{contact}/") {
                Some("link")
            } else {
                None
            }
        }
    }
}

/// Writes the cycle's write requests as JSON Lines; returns how many.
fn write_replays(path: &Path, log: &[(Side, LoggedRequest)]) -> Result<usize, String> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| e.to_string())?);
    let mut n = 0;
    for (side, r) in log {
        let Some(kind) = kind_of(*side, r) else {
            continue;
        };
        let company_phase = match side {
            // `/v1/Data/{project}/{entity}[/{id}]`
            Side::Weavy => r.uri.split(['/', '?']).nth(4) == Some("customer"),
            Side::Mautic => r.route.starts_with("/api/companies") && kind != "link",
        };
        let replay = Replay {
            side: side.to_string(),
            company_phase,
            kind: kind.to_owned(),
            method: r.method.clone(),
            uri: r.uri.clone(),
            content_type: r.content_type.clone(),
            body: String::from_utf8_lossy(&r.body).into_owned(),
        };
        serde_json::to_writer(&mut out, &replay).map_err(|e| e.to_string())?;
        out.write_all(b"\n").map_err(|e| e.to_string())?;
        n += 1;
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(n)
}

fn floor_spec(
    pair: &SimPair,
    config: &Config,
    cycle: &CycleOutcome,
    writes_file: PathBuf,
) -> Result<FloorSpec, String> {
    let tz = config.time_zone();
    let mut reads = Vec::new();
    for kind in config.kinds() {
        let since = cycle.since.get(kind.api_name()).copied().flatten();
        let (side, table, filter_value) = match kind.side() {
            Side::Weavy => (
                "weavy",
                kind.api_name().to_owned(),
                // The simulator's filter compares in the zone srvDate is shown in.
                since.map(|t| {
                    fieldsync::connector::weavy::filter_value(
                        t,
                        tz,
                        &Default::default(),
                        Some(fieldsync::connector::weavy::FilterZone::Shown),
                    )
                }),
            ),
            Side::Mautic => (
                "mautic",
                match kind {
                    RecordKind::MauticCompany => "companies".to_owned(),
                    _ => "contacts".to_owned(),
                },
                since.map(fieldsync::connector::mautic::params::sql_time),
            ),
        };
        reads.push(FloorRead {
            side: side.to_owned(),
            table,
            filter_value,
        });
    }
    Ok(FloorSpec {
        weavy_url: pair.weavy.url(),
        project: config.weavy.project_code.clone(),
        user: config.weavy.user.clone(),
        password: config
            .weavy_password()
            .map_err(|e| e.to_string())?
            .expose()
            .to_owned(),
        mautic_url: pair.mautic.url(),
        client_id: config.mautic.client_id.clone().unwrap_or_default(),
        client_secret: config
            .mautic_secret()
            .map_err(|e| e.to_string())?
            .expose()
            .to_owned(),
        mautic_page_size: config.mautic.page_size,
        fallback: config.mautic.null_date_modified_fallback,
        reads,
        writes_file,
        weavy_concurrency: config.weavy.http.concurrency,
        mautic_concurrency: config.mautic.http.concurrency,
    })
}

/// The weavy simulator's page size (rows per Select page).
const WEAVY_PAGE: u64 = 500;
/// Mautic's batch maximum.
const MAUTIC_BATCH: u64 = 200;

/// The least requests the cycle's work takes: its reads, its Mautic batches, one weavy call
/// per record written, one Mautic call per company link.
fn minimum(config: &Config, r: &CycleReport) -> Minimum {
    let mut m = Minimum::default();
    for kind in config.kinds() {
        let pulled = r.pulled.get(kind.api_name()).copied().unwrap_or(0);
        let page = match kind.side() {
            Side::Weavy => WEAVY_PAGE,
            Side::Mautic => config.mautic.page_size as u64,
        };
        m.reads += pulled.div_ceil(page);
        let inserts = r.inserts.get(kind.api_name()).copied().unwrap_or(0);
        let updates = r.updates.get(kind.api_name()).copied().unwrap_or(0);
        match kind.side() {
            Side::Weavy => m.weavy_writes += inserts + updates,
            Side::Mautic => {
                m.mautic_batches += inserts.div_ceil(MAUTIC_BATCH) + updates.div_ceil(MAUTIC_BATCH)
            }
        }
    }
    m.mautic_links = r.requests.get("mautic link").copied().unwrap_or(0);
    m.total = m.reads + m.mautic_batches + m.weavy_writes + m.mautic_links;
    m
}
