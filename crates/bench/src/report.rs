//! Percentiles, the human table and the JSON line each scenario prints.

use serde_json::{Map, Value, json};

/// Nearest-rank percentile of sorted `v` (`p` in 0..=100); 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50 / p99 / max (and count) of a sample, in the sample's unit.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Smallest.
    pub min: f64,
}

impl Summary {
    /// Sorts `v` and summarises it.
    pub fn of(v: &mut [f64]) -> Summary {
        v.sort_by(f64::total_cmp);
        Summary {
            n: v.len(),
            p50: percentile(v, 50.0),
            p99: percentile(v, 99.0),
            max: v.last().copied().unwrap_or(0.0),
            min: v.first().copied().unwrap_or(0.0),
        }
    }

    /// As JSON, values rounded to 3 decimals.
    pub fn json(&self) -> Value {
        json!({
            "n": self.n, "p50": r3(self.p50), "p99": r3(self.p99),
            "max": r3(self.max), "min": r3(self.min),
        })
    }
}

/// Rounds to 3 decimals for the JSON line.
pub fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Whether a figure met its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Met.
    Pass,
    /// Missed.
    Miss,
    /// No target.
    Info,
}

/// One line of a scenario's table.
pub struct Row {
    /// What.
    pub metric: String,
    /// Measured, formatted.
    pub value: String,
    /// Target, formatted ("—" when none).
    pub target: String,
    /// Met or not.
    pub verdict: Verdict,
}

/// A scenario's result.
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Table rows.
    pub rows: Vec<Row>,
    /// Free-form lines printed under the table.
    pub notes: Vec<String>,
    /// Everything, for the JSON line.
    pub json: Map<String, Value>,
}

impl Report {
    /// An empty report for `scenario`.
    pub fn new(scenario: impl Into<String>) -> Report {
        let scenario = scenario.into();
        let mut json = Map::new();
        json.insert("scenario".into(), scenario.clone().into());
        json.insert(
            "loadavg_1m_at_start".into(),
            crate::daemon::loadavg().into(),
        );
        Report {
            scenario,
            rows: Vec::new(),
            notes: Vec::new(),
            json,
        }
    }

    /// A row with no target.
    pub fn info(&mut self, metric: impl Into<String>, value: impl Into<String>) {
        self.rows.push(Row {
            metric: metric.into(),
            value: value.into(),
            target: "—".into(),
            verdict: Verdict::Info,
        });
    }

    /// A row with a target; `pass` says whether it was met.
    pub fn target(
        &mut self,
        metric: impl Into<String>,
        value: impl Into<String>,
        target: impl Into<String>,
        pass: bool,
    ) {
        self.rows.push(Row {
            metric: metric.into(),
            value: value.into(),
            target: target.into(),
            verdict: if pass { Verdict::Pass } else { Verdict::Miss },
        });
    }

    /// Two target rows for a latency summary: its p50 (`label`) and its max
    /// (`… max`), both held to `target_ms`.
    pub fn ms_targets(&mut self, label: impl Into<String>, s: &Summary, target_ms: f64) {
        let target = format!("≤ {target_ms} ms");
        self.target(
            label,
            format!("{:.2} ms", s.p50),
            target.clone(),
            s.p50 <= target_ms,
        );
        self.target(
            "… max",
            format!("{:.2} ms", s.max),
            target,
            s.max <= target_ms,
        );
    }

    /// Adds a JSON field.
    pub fn set(&mut self, k: &str, v: impl Into<Value>) {
        self.json.insert(k.into(), v.into());
    }

    /// A note under the table.
    pub fn note(&mut self, s: impl Into<String>) {
        self.notes.push(s.into());
    }

    /// True when every targeted row passed.
    pub fn all_met(&self) -> bool {
        self.rows.iter().all(|r| r.verdict != Verdict::Miss)
    }

    /// Prints the table, the notes and the JSON line.
    pub fn print(&mut self) {
        println!();
        println!("== {} ==", self.scenario);
        print_rows(&self.rows);
        for n in &self.notes {
            println!("  note: {n}");
        }
        self.json
            .insert("targets_met".into(), self.all_met().into());
        println!("{}", Value::Object(self.json.clone()));
    }
}

/// Prints rows as an aligned table.
pub fn print_rows(rows: &[Row]) {
    let w0 = rows
        .iter()
        .map(|r| r.metric.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let w1 = rows.iter().map(|r| r.value.len()).max().unwrap_or(8).max(8);
    let w2 = rows
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "  {:w0$}  {:>w1$}  {:>w2$}  ",
        "metric", "measured", "target"
    );
    for r in rows {
        let mark = match r.verdict {
            Verdict::Pass => "ok",
            Verdict::Miss => "MISSED",
            Verdict::Info => "",
        };
        println!(
            "  {:w0$}  {:>w1$}  {:>w2$}  {mark}",
            r.metric, r.value, r.target
        );
    }
}

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as MiB with one decimal.
pub fn mib(b: f64) -> String {
    format!("{:.1} MiB", b / (1024.0 * 1024.0))
}
