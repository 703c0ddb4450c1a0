//! Smoke test of the scale bench (`cargo bench --bench cycle`): the same harness on a data set
//! fifty times smaller (2,000 Mautic contacts), each cycle run twice (`--repeat 2`), checking
//! that it runs end to end and that its table holds together. The numbers themselves are the
//! bench's business, not this test's.
//!
//! A plain `main` (no test harness): the bench re-executes its own binary for each measured
//! phase, and so does this test.

#[path = "../benches/cycle/harness/mod.rs"]
#[allow(dead_code)]
mod harness;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--child") {
        return harness::main(std::path::PathBuf::new());
    }
    // `cargo test some_filter` passes the filter on: run only when it names this test.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty()
        && !filters
            .iter()
            .any(|f| "bench_cycle_smoke".contains(f.as_str()))
    {
        return ExitCode::SUCCESS;
    }
    let dir = tempfile::tempdir().unwrap();
    let options = harness::Options {
        scale: 0.02,
        json: dir.path().join("bench-cycle.json"),
        keep: false,
        seed: 5,
        full_only: false,
        repeat: 2,
    };
    check_median();
    let results = harness::run(&options).expect("the bench runs");
    print!("{}", harness::table_text(&results));
    check(&results, &options.json);
    println!("bench_cycle_smoke ... ok");
    ExitCode::SUCCESS
}

fn check(r: &harness::Results, json: &std::path::Path) {
    assert_eq!(
        r.phases.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["full", "no-change", "incremental"]
    );
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(written["phases"].as_array().unwrap().len(), 3);
    for p in &r.phases {
        let name = &p.name;
        // Each run starts from the same simulators and database: the same work each time.
        assert_eq!(p.runs.len(), 2, "{name}: --repeat 2");
        // Two runs: the ratio is their mean, and the row shown is the lower one's.
        let (lo, hi) = if p.runs[0].ratio <= p.runs[1].ratio {
            (&p.runs[0], &p.runs[1])
        } else {
            (&p.runs[1], &p.runs[0])
        };
        assert!(
            (p.ratio - (lo.ratio + hi.ratio) / 2.0).abs() < 1e-12,
            "{name}"
        );
        assert_eq!(
            (p.cycle.wall_s, p.floor.wall_s),
            (lo.cycle_s, lo.floor_s),
            "{name}: the row shown is the lower middle run"
        );
        for run in &p.runs {
            assert_eq!(
                (run.requests, run.write_requests),
                (p.requests, p.write_requests),
                "{name}: a run did other work than the first"
            );
        }
        assert!(
            p.cycle.report.errors.is_empty(),
            "{name}: {:?}",
            p.cycle.report.errors
        );
        assert_eq!(p.cycle.report.pending, 0, "{name}: patches left");
        assert_eq!(
            p.cycle.report.retries, 0,
            "{name}: retries blur the numbers"
        );
        assert_eq!(p.floor.failed, 0, "{name}: the floor's replay failed");
        assert!(
            p.requests >= p.minimum.total,
            "{name}: fewer requests than the minimum"
        );
        // The floor sends exactly the cycle's writes and reads what the cycle read.
        for (kind, n) in &p.cycle.report.requests {
            if [
                "insert",
                "update",
                "batch_insert",
                "batch_update",
                "link",
                "dnc",
            ]
            .iter()
            .any(|w| kind.ends_with(&format!(" {w}")))
            {
                assert_eq!(p.floor.requests.get(kind), Some(n), "{name}: {kind}");
            }
        }
        let read: u64 = p.floor.records.values().sum();
        assert_eq!(read, p.cycle.report.total_pulled(), "{name}: records read");
        assert!(p.cycle.wall_s > 0.0 && p.floor.wall_s > 0.0);
        assert!(p.cycle.peak_rss > 0 && p.cycle.db_bytes > 0);
        // Opening the database alone was measured in a process of its own: it takes memory,
        // less than the whole cycle did.
        assert!(
            p.open.before_rss > 0,
            "{name}: the open's child measured nothing"
        );
        assert!(
            p.open.bytes() > 0 && p.open.bytes() < p.cycle.peak_rss,
            "{name}: opening the database took {} bytes, the cycle's peak {}",
            p.open.bytes(),
            p.cycle.peak_rss
        );
    }
    for (i, p) in r.phases.iter().enumerate() {
        assert_eq!(
            written["phases"][i]["open"]["peak_rss"].as_u64(),
            Some(p.open.peak_rss),
            "{}: the open's measure is in the JSON",
            p.name
        );
    }
    let full = &r.phases[0];
    assert!(full.write_requests > 0, "the first cycle writes");
    assert!(full.cycle.report.total_inserts() > 0);
    assert_eq!(
        r.phases[1].write_requests, 0,
        "the no-change cycle writes nothing"
    );
    let inc = &r.phases[2];
    assert!(inc.write_requests > 0, "the edits are synced");
    assert!(
        inc.cycle.report.total_pulled() < full.cycle.report.total_pulled() / 10,
        "the incremental cycle reads what changed, not everything"
    );
}

/// The median of an odd number of runs is the middle one's ratio, and that run is shown; of an
/// even number, the mean of the two middle ones, and the lower of them is shown.
fn check_median() {
    let run = |ratio: f64| harness::Run {
        cycle_s: ratio,
        floor_s: 1.0,
        ratio,
        requests: 0,
        write_requests: 0,
    };
    let odd = [run(1.6), run(1.4), run(1.5), run(1.3), run(1.7)];
    assert_eq!(harness::median_run(&odd), (1.5, 2));
    let even = [run(1.6), run(1.2), run(1.4), run(1.5)];
    let (ratio, shown) = harness::median_run(&even);
    assert!((ratio - 1.45).abs() < 1e-12, "{ratio}");
    assert_eq!(shown, 2);
    assert_eq!(harness::median_run(&[run(1.9)]), (1.9, 0));
}
