//! Observations ingested per second into sled, batched by page: `cargo bench --bench store`.
//!
//! Each iteration ingests pages of 200 records with 20 mapped fields each into a fresh
//! database on disk; every value is new, so every field is an observation (the first-sync
//! worst case). Throughput is in observations.

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fieldsync::model::{RecordKind, RecordRef, Value};
use fieldsync::store::{Sighting, Store, StoreOptions};

const FIELDS: usize = 20;
const PAGE: usize = 200;
const PAGES: usize = 10;

fn pages() -> Vec<Vec<Sighting>> {
    let names: Vec<String> = (0..FIELDS).map(|f| format!("field_{f:02}")).collect();
    (0..PAGES)
        .map(|p| {
            (0..PAGE)
                .map(|i| {
                    let n = p * PAGE + i;
                    Sighting {
                        record: RecordRef::new(RecordKind::MauticContact, n.to_string()),
                        modified_at: Utc.timestamp_opt(1_700_000_000 + n as i64, 0).unwrap(),
                        email: Some(format!("contact{n}@example.fr")),
                        company_key: None,
                        company_name: None,
                        company_ref: None,
                        fields: names
                            .iter()
                            .enumerate()
                            .map(|(f, name)| (name.clone(), Value::text(format!("value {n} {f}"))))
                            .collect(),
                    }
                })
                .collect()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let pages = pages();
    let mut g = c.benchmark_group("store");
    g.sample_size(10);
    g.throughput(Throughput::Elements((PAGES * PAGE * FIELDS) as u64));
    g.bench_function("ingest", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(dir.path().join("db"), &StoreOptions::default()).unwrap();
                (dir, store)
            },
            |(dir, store)| {
                for page in &pages {
                    store.ingest(1, page).unwrap();
                }
                store.flush().unwrap();
                (dir, store)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
