//! The measured side of the bench: each phase runs in a child process of the bench binary,
//! so that its CPU time and peak memory are its own and not the simulators' (which live in the
//! parent). A cycle child is what `fieldsync sync` does: load the config, open the store, run
//! one cycle; a floor child is a bare HTTP client (see `floor.rs`).

use super::measure;
use super::{CycleOutcome, StepTime, Task};
use fieldsync::config::Config;
use fieldsync::store::{Store, StoreOptions};
use fieldsync::sync::{CycleOptions, Engine, Progress};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// Runs the task in `task_file`, writes its outcome as JSON to `out_file`.
pub fn run(task_file: &Path, out_file: &Path) -> Result<(), String> {
    let task: Task = serde_json::from_slice(
        &std::fs::read(task_file).map_err(|e| format!("reading {}: {e}", task_file.display()))?,
    )
    .map_err(|e| format!("reading the task: {e}"))?;
    let out = match task {
        Task::Cycle { config } => serde_json::to_vec_pretty(&cycle(&config)?),
        Task::Floor(spec) => serde_json::to_vec_pretty(&super::floor::run(&spec)?),
    }
    .map_err(|e| e.to_string())?;
    std::fs::write(out_file, out).map_err(|e| format!("writing {}: {e}", out_file.display()))
}

/// The time of each step of the cycle, as its progress calls give them.
struct Steps {
    t0: Instant,
    open: Mutex<HashMap<String, f64>>,
    done: Mutex<Vec<StepTime>>,
}

impl Progress for Steps {
    fn start(&self, step: &str, _total: Option<u64>) {
        let now = self.t0.elapsed().as_secs_f64();
        self.open.lock().unwrap().insert(step.to_owned(), now);
    }

    fn finish(&self, step: &str) {
        let now = self.t0.elapsed().as_secs_f64();
        let start = self.open.lock().unwrap().remove(step).unwrap_or(now);
        self.done.lock().unwrap().push(StepTime {
            step: step.to_owned(),
            start_s: start,
            seconds: now - start,
        });
    }
}

fn cycle(config_path: &Path) -> Result<CycleOutcome, String> {
    let runtime = fieldsync::cmd::runtime().map_err(|e| e.to_string())?;
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let store = Store::open(
        &config.store.path,
        &StoreOptions {
            cache_bytes: config.store.cache_mb * 1024 * 1024,
        },
    )
    .map_err(|e| e.to_string())?;
    let overlap = chrono::Duration::from_std(config.sync.overlap_window).unwrap_or_default();
    let mut since = BTreeMap::new();
    for kind in config.kinds() {
        let cursor = store.cursor(kind).map_err(|e| e.to_string())?;
        since.insert(kind.api_name().to_owned(), cursor.map(|c| c - overlap));
    }
    let db_path = config.store.path.clone();
    let engine = Engine::from_config(config, store).map_err(|e| e.to_string())?;
    let steps = Steps {
        t0: Instant::now(),
        open: Mutex::new(HashMap::new()),
        done: Mutex::new(Vec::new()),
    };
    let cpu0 = measure::cpu_seconds();
    let t0 = Instant::now();
    let report = runtime
        .block_on(engine.cycle(CycleOptions::default(), &steps))
        .map_err(|e| e.to_string())?;
    let wall_s = t0.elapsed().as_secs_f64();
    let cpu_s = measure::cpu_seconds() - cpu0;
    engine.store.flush().map_err(|e| e.to_string())?;
    let db_bytes = engine.store.size_on_disk().map_err(|e| e.to_string())?;
    let stats = engine.store.stats();
    Ok(CycleOutcome {
        report,
        wall_s,
        cpu_s,
        process_cpu_s: measure::cpu_seconds(),
        peak_rss: measure::peak_rss_bytes(),
        db_bytes,
        db_du_bytes: measure::disk_usage(&db_path),
        observation_entries: stats.observation_entries,
        records: stats.records,
        entities: stats.entities,
        since,
        steps: steps.done.into_inner().unwrap(),
    })
}
