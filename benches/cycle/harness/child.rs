//! A child process of the bench binary (`--child TASK OUT`), so that what it measures of itself
//! is its own, apart from the simulators (which live in the parent):
//! - the floor, a bare HTTP client (see `floor.rs`): its CPU time and peak memory;
//! - opening the database after a cycle, and nothing else (`measure::open_store`): the memory
//!   that takes.
//!
//! Cycles run in the `fieldsync` binary (`cycle.rs`).

use super::Task;
use std::path::Path;

/// Runs the task in `task_file`, writes its outcome as JSON to `out_file`.
pub fn run(task_file: &Path, out_file: &Path) -> Result<(), String> {
    let task: Task = serde_json::from_slice(
        &std::fs::read(task_file).map_err(|e| format!("reading {}: {e}", task_file.display()))?,
    )
    .map_err(|e| format!("reading the task: {e}"))?;
    let out = match task {
        Task::Floor(spec) => serde_json::to_vec_pretty(&super::floor::run(&spec)?),
        Task::OpenStore(spec) => serde_json::to_vec_pretty(&super::measure::open_store(&spec)?),
    }
    .map_err(|e| e.to_string())?;
    std::fs::write(out_file, out).map_err(|e| format!("writing {}: {e}", out_file.display()))
}
