//! The results as Markdown tables, and the targets checked against them.

use super::{Phase, Results};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt::Write;

/// One of the targets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    pub what: String,
    pub wanted: String,
    pub got: String,
    pub met: bool,
}

const MB: f64 = 1024.0 * 1024.0;

/// The targets of the scale issue, checked.
pub fn targets(phases: &[Phase]) -> Vec<Target> {
    let mut out = Vec::new();
    let find = |name: &str| phases.iter().find(|p| p.name == name);
    if let Some(full) = find("full") {
        out.push(Target {
            what: "first full cycle vs its floor".into(),
            wanted: "<= 1.5x".into(),
            got: format!("{:.2}x{}", full.ratio, spread(full)),
            met: full.ratio <= 1.5,
        });
        if let Some(inc) = find("incremental") {
            let share = inc.cycle.wall_s / full.cycle.wall_s.max(1e-9);
            out.push(Target {
                what: "incremental cycle time vs the full cycle's".into(),
                wanted: "<= 5 %".into(),
                got: format!("{:.1} %", share * 100.0),
                met: share <= 0.05,
            });
            let over = inc.requests as f64 / inc.minimum.total.max(1) as f64 - 1.0;
            out.push(Target {
                what: "incremental cycle requests vs the minimum".into(),
                wanted: "within 1 %".into(),
                got: format!(
                    "{} vs {} (+{:.1} %)",
                    inc.requests,
                    inc.minimum.total,
                    over * 100.0
                ),
                met: over <= 0.01,
            });
        }
    }
    if let Some(nc) = find("no-change") {
        out.push(Target {
            what: "no-change cycle writes".into(),
            wanted: "0".into(),
            got: nc.write_requests.to_string(),
            met: nc.write_requests == 0,
        });
    }
    let peak = phases.iter().map(|p| p.cycle.peak_rss).max().unwrap_or(0);
    out.push(Target {
        what: "peak memory (RSS) of a cycle".into(),
        wanted: "< 300 MB".into(),
        got: format!("{:.0} MB", peak as f64 / MB),
        met: (peak as f64) < 300.0 * MB,
    });
    if let Some(last) = phases.last() {
        out.push(Target {
            what: "database size per stored observation".into(),
            wanted: "< 200 B".into(),
            got: format!(
                "{:.0} B ({:.1} MB / {} observations)",
                last.bytes_per_observation,
                last.cycle.db_bytes as f64 / MB,
                last.observations_total
            ),
            met: last.bytes_per_observation < 200.0,
        });
    }
    out
}

/// How the runs of a phase spread, when there were several: `, median of 5 runs: 1.39x to 1.60x`.
fn spread(p: &Phase) -> String {
    if p.runs.len() < 2 {
        return String::new();
    }
    let lo = p.runs.iter().map(|r| r.ratio).fold(f64::INFINITY, f64::min);
    let hi = p
        .runs
        .iter()
        .map(|r| r.ratio)
        .fold(f64::NEG_INFINITY, f64::max);
    format!(", median of {} runs: {lo:.2}x to {hi:.2}x", p.runs.len())
}

fn secs(s: f64) -> String {
    if s < 10.0 {
        format!("{s:.2}")
    } else {
        format!("{s:.1}")
    }
}

/// Every table, Markdown.
pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n## Scale bench, scale {}\n", r.scale);
    let _ = writeln!(
        s,
        "Data set: {}.",
        r.data_set
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        s,
        "Planned in {:.1} s, loaded into the simulators in {:.1} s.\n",
        r.plan_s, r.load_s
    );
    let _ = writeln!(
        s,
        "| cycle | wall s | floor s | ratio | requests | minimum | writes | records read | fieldsync CPU s | peak RSS MB | DB open MB | DB MB | B/obs |"
    );
    let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for p in &r.phases {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.1} | {:.0} |",
            p.name,
            secs(p.cycle.wall_s),
            secs(p.floor.wall_s),
            p.ratio,
            p.requests,
            p.minimum.total,
            p.write_requests,
            p.cycle.report.total_pulled(),
            secs(p.cycle.cpu_s),
            p.cycle.peak_rss as f64 / MB,
            p.open.bytes() as f64 / MB,
            p.cycle.db_bytes as f64 / MB,
            p.bytes_per_observation,
        );
    }
    let _ = writeln!(
        s,
        "\nDB open MB: the peak memory of opening the database as the cycle left it, alone, in a process of its own: sled's record of every page (held outside its cache for as long as the database is open) and what its recovery reads."
    );
    if r.phases.iter().any(|p| p.runs.len() > 1) {
        let _ = writeln!(
            s,
            "\nevery run, each from the same state (the first table shows the run whose ratio is the median, the lower middle one for an even count, and the median ratio):\n"
        );
        let _ = writeln!(s, "| cycle | run | wall s | floor s | ratio |");
        let _ = writeln!(s, "|---|--:|--:|--:|--:|");
        for p in &r.phases {
            for (i, run) in p.runs.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {:.2} |",
                    p.name,
                    i + 1,
                    secs(run.cycle_s),
                    secs(run.floor_s),
                    run.ratio
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\nfloor: bare client, same reads and same write requests (read + write s; its own CPU s, peak RSS MB); simulators' CPU s during the cycle:\n"
    );
    let _ = writeln!(
        s,
        "| cycle | floor read s | floor write s | floor CPU s | floor RSS MB | sim CPU s (cycle) |"
    );
    let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|");
    for p in &r.phases {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.0} | {} |",
            p.name,
            secs(p.floor.read_s),
            secs(p.floor.write_s),
            secs(p.floor.cpu_s),
            p.floor.peak_rss as f64 / MB,
            secs(p.sim_cpu_s),
        );
    }
    // Requests by side and kind: cycle / floor.
    let kinds: BTreeSet<&String> = r
        .phases
        .iter()
        .flat_map(|p| {
            p.cycle
                .report
                .requests
                .keys()
                .chain(p.floor.requests.keys())
        })
        .collect();
    let _ = writeln!(s, "\nrequests by side and kind (cycle / floor):\n");
    let _ = write!(s, "| kind |");
    for p in &r.phases {
        let _ = write!(s, " {} |", p.name);
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "|---|{}", "--:|".repeat(r.phases.len()));
    for k in kinds {
        let _ = write!(s, "| {k} |");
        for p in &r.phases {
            let c = p.cycle.report.requests.get(k).copied().unwrap_or(0);
            let f = p.floor.requests.get(k).copied().unwrap_or(0);
            let _ = write!(s, " {c} / {f} |");
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\nminimum = reads ceil(records / page) + Mautic batches ceil(writes / 200) + weavy writes (one per record) + Mautic links (one per contact):\n"
    );
    let _ = writeln!(
        s,
        "| cycle | reads | Mautic batches | weavy writes | Mautic links | total |"
    );
    let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|");
    for p in &r.phases {
        let m = &p.minimum;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            p.name, m.reads, m.mautic_batches, m.weavy_writes, m.mautic_links, m.total
        );
    }
    let _ = writeln!(s, "\nsteps of each cycle (s):\n");
    let steps: Vec<String> = {
        let mut seen = Vec::new();
        for p in &r.phases {
            for st in &p.cycle.steps {
                if !seen.contains(&st.step) {
                    seen.push(st.step.clone());
                }
            }
        }
        seen
    };
    let _ = write!(s, "| cycle |");
    for st in &steps {
        let _ = write!(s, " {st} |");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "|---|{}", "--:|".repeat(steps.len()));
    for p in &r.phases {
        let _ = write!(s, "| {} |", p.name);
        for st in &steps {
            let t: f64 = p
                .cycle
                .steps
                .iter()
                .filter(|x| &x.step == st)
                .map(|x| x.seconds)
                .sum();
            let _ = write!(s, " {} |", secs(t));
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "\ntargets:\n");
    let _ = writeln!(s, "| target | wanted | got | met |");
    let _ = writeln!(s, "|---|---|---|---|");
    for t in &r.targets {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            t.what,
            t.wanted,
            t.got,
            if t.met { "yes" } else { "NO" }
        );
    }
    s
}
