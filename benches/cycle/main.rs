//! The scale benchmark: `cargo bench --bench cycle` (add `-- --scale 2` for the doubled data
//! set, `-- --json PATH` to write the results elsewhere than `target/bench-cycle.json`).
//! What it measures and how: `harness/mod.rs`.

mod harness;

fn main() -> std::process::ExitCode {
    harness::main(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-cycle.json"))
}
