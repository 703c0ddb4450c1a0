//! Field decisions per second: `cargo bench --bench merge`.
//!
//! A realistic mix of one cycle's decisions: mostly agreement, some one-sided edits, some
//! conflicts and ties, blanks, numbers and trimmed or case-folded comparisons. The decision
//! function is the whole hot path of the merge: it never allocates.

use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fieldsync::merge::decide;
use fieldsync::model::{Compare, Direction, FieldPolicy, Observation, Side, Value};
use std::hint::black_box;

struct Case {
    w: Option<Observation>,
    m: Option<Observation>,
    base: Option<Value>,
    policy: FieldPolicy,
}

fn cases() -> Vec<Case> {
    let t = |s: i64| Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap();
    let names = ["Jean", "Jeanne", "Dupont", " dupont ", "", "Émile", "émile"];
    let mut out = Vec::new();
    for i in 0..4096usize {
        let pick = |k: usize| Value::text(names[(i * 7 + k * 3) % names.len()]);
        let policy = FieldPolicy {
            direction: match i % 10 {
                0 => Direction::WeavyWins,
                1 => Direction::MauticWins,
                _ => Direction::Both,
            },
            overwrite_with_blank: i % 13 == 0,
            compare: Compare {
                trim: i % 3 == 0,
                ignore_case: i % 5 == 0,
                ..Compare::EXACT
            },
            preferred: Some(Side::Weavy),
            tie_window_micros: 1_000_000,
        };
        let (w, m, base) = match i % 8 {
            // Agreement dominates a real cycle.
            0..=3 => (pick(0), pick(0), Some(pick(0))),
            4 => (pick(1), pick(0), Some(pick(0))),
            5 => (pick(0), pick(2), Some(pick(0))),
            6 => (pick(1), pick(2), Some(pick(3))),
            _ => (
                Value::Number((i % 50) as f64),
                Value::Number((i % 7) as f64),
                None,
            ),
        };
        out.push(Case {
            w: Some(Observation::new(w, t((i % 17) as i64))),
            m: Some(Observation::new(m, t((i % 11) as i64))),
            base,
            policy,
        });
    }
    out
}

fn bench(c: &mut Criterion) {
    let cases = cases();
    let mut g = c.benchmark_group("merge");
    g.throughput(Throughput::Elements(cases.len() as u64));
    g.bench_function("decide", |b| {
        b.iter(|| {
            let mut writes = 0u32;
            for case in &cases {
                let d = decide(
                    black_box(case.w.as_ref()),
                    black_box(case.m.as_ref()),
                    black_box(case.base.as_ref()),
                    black_box(&case.policy),
                );
                writes += d.write.is_some() as u32;
            }
            writes
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
