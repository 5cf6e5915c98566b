//! Counters and gauges for `/metrics`, owned by the running agent (no global registry).
//!
//! Components register a handle once (a map lookup under a lock) and then bump an atomic on the
//! hot path. Handles survive reloads: registering the same name and labels returns the same cell.
//! Values that already live elsewhere (queue lengths) are read at scrape time through
//! [`Metrics::gauge_fn`] instead of being copied on every change.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (queue fill, open files).
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the latency histograms: 100µs to 10s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Upper bounds (seconds) of `sluice_end_to_end_latency_seconds`: fine from 0.5 ms to 100 ms, where
/// a healthy pipeline's receive-to-write time lies (inputs batch for up to 50 ms), so that p99 can be
/// read to within a millisecond or two; then coarse up to a minute for outages and backlogs.
pub const END_TO_END_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007, 0.008, 0.009, 0.01, 0.0125,
    0.015, 0.0175, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05, 0.055, 0.06, 0.07, 0.08, 0.09, 0.1,
    0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A distribution of observed values (latencies, in seconds) in fixed buckets.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramCell>);

#[derive(Debug)]
struct HistogramCell {
    bounds: &'static [f64],
    /// Per bucket, not cumulative; the last one is `+Inf`.
    counts: Vec<AtomicU64>,
    /// The sum of observations as f64 bits.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram(Arc::new(HistogramCell {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }))
    }

    pub fn observe(&self, v: f64) {
        let c = &self.0;
        let i = c
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(c.bounds.len());
        if let Some(n) = c.counts.get(i) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        let mut cur = c.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + v).to_bits();
            match c
                .sum
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
    }

    pub fn observe_duration(&self, d: std::time::Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.0
            .counts
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }
}

/// A gauge computed when `/metrics` is scraped; `None` leaves the series out (its component is
/// gone). Must not call back into [`Metrics`], which is locked while it runs.
pub type GaugeFn = Arc<dyn Fn() -> Option<i64> + Send + Sync>;

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Families {
    counters: BTreeMap<(&'static str, Labels), Counter>,
    gauges: BTreeMap<(&'static str, Labels), Gauge>,
    gauge_fns: BTreeMap<(&'static str, Labels), GaugeFn>,
    histograms: BTreeMap<(&'static str, Labels), Histogram>,
    help: BTreeMap<&'static str, &'static str>,
}

impl std::fmt::Debug for Families {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Families")
            .field("counters", &self.counters.len())
            .field("gauges", &(self.gauges.len() + self.gauge_fns.len()))
            .field("histograms", &self.histograms.len())
            .finish()
    }
}

/// The agent's metrics.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Families>>,
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter `name{labels}`, created on first use.
    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Counter {
        let key = (name, own(labels));
        let mut f = self.lock();
        f.help.entry(name).or_insert(help);
        f.counters.entry(key).or_default().clone()
    }

    pub fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Gauge {
        let key = (name, own(labels));
        let mut f = self.lock();
        f.help.entry(name).or_insert(help);
        f.gauges.entry(key).or_default().clone()
    }

    /// Registers (or replaces) a gauge whose value is read by `f` at scrape time.
    pub fn gauge_fn(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        f: GaugeFn,
    ) {
        let key = (name, own(labels));
        let mut fam = self.lock();
        fam.help.entry(name).or_insert(help);
        fam.gauge_fns.insert(key, f);
    }

    /// The latency histogram `name{labels}` (seconds, [`LATENCY_BUCKETS`]), created on first use.
    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
    ) -> Histogram {
        self.histogram_with(name, help, labels, LATENCY_BUCKETS)
    }

    /// [`Metrics::histogram`] with its own bucket bounds (ascending, seconds). The bounds of the
    /// first registration of a name and labels stay.
    pub fn histogram_with(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &[(&'static str, &str)],
        bounds: &'static [f64],
    ) -> Histogram {
        let key = (name, own(labels));
        let mut f = self.lock();
        f.help.entry(name).or_insert(help);
        f.histograms
            .entry(key)
            .or_insert_with(|| Histogram::new(bounds))
            .clone()
    }

    /// Current value of a counter, for tests and the CLI summary (0 if never registered).
    pub fn counter_value(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let f = self.lock();
        f.counters
            .iter()
            .filter(|((n, l), _)| {
                *n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, c)| c.get())
            .sum()
    }

    /// Every series of the counter or gauge `name` as (labels, value), gauges read now; for the
    /// status page, which shows a few families without parsing the exposition text.
    pub fn series(&self, name: &str) -> Vec<(Vec<(&'static str, String)>, f64)> {
        let f = self.lock();
        let mut out: Vec<(Vec<(&'static str, String)>, f64)> = Vec::new();
        for ((n, l), c) in &f.counters {
            if *n == name {
                out.push((l.clone(), c.get() as f64));
            }
        }
        for ((n, l), g) in &f.gauges {
            if *n == name {
                out.push((l.clone(), g.get() as f64));
            }
        }
        for ((n, l), g) in &f.gauge_fns {
            if *n == name {
                if let Some(v) = g() {
                    out.push((l.clone(), v as f64));
                }
            }
        }
        out
    }

    /// Prometheus text exposition format 0.0.4: each family once, with `# HELP` and `# TYPE`,
    /// label values and help text escaped.
    pub fn render(&self) -> String {
        let f = self.lock();
        // Every family's series, whatever map they live in, grouped under one header.
        let mut families: BTreeMap<&'static str, (&'static str, String)> = BTreeMap::new();
        let mut line = |name: &'static str, kind: &'static str, series: std::fmt::Arguments| {
            let (_, body) = families
                .entry(name)
                .or_insert_with(|| (kind, String::new()));
            let _ = body.write_fmt(series);
        };
        for ((name, labels), c) in &f.counters {
            line(
                name,
                "counter",
                format_args!("{name}{} {}\n", fmt_labels(labels), c.get()),
            );
        }
        for ((name, labels), g) in &f.gauges {
            line(
                name,
                "gauge",
                format_args!("{name}{} {}\n", fmt_labels(labels), g.get()),
            );
        }
        for ((name, labels), g) in &f.gauge_fns {
            if let Some(v) = g() {
                line(
                    name,
                    "gauge",
                    format_args!("{name}{} {v}\n", fmt_labels(labels)),
                );
            }
        }
        for ((name, labels), h) in &f.histograms {
            let c = &h.0;
            let mut cumulative = 0u64;
            for (i, n) in c.counts.iter().enumerate() {
                cumulative += n.load(Ordering::Relaxed);
                let le = match c.bounds.get(i) {
                    Some(b) => b.to_string(),
                    None => "+Inf".to_string(),
                };
                let mut l = labels.clone();
                l.push(("le", le));
                line(
                    name,
                    "histogram",
                    format_args!("{name}_bucket{} {cumulative}\n", fmt_labels(&l)),
                );
            }
            let sum = f64::from_bits(c.sum.load(Ordering::Relaxed));
            let labels = fmt_labels(labels);
            line(
                name,
                "histogram",
                format_args!("{name}_sum{labels} {sum}\n"),
            );
            line(
                name,
                "histogram",
                format_args!("{name}_count{labels} {cumulative}\n"),
            );
        }
        let mut out = String::new();
        for (name, (kind, body)) in families {
            let help = f
                .help
                .get(name)
                .unwrap_or(&"")
                .replace('\\', "\\\\")
                .replace('\n', "\\n");
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            out.push_str(&body);
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Families> {
        // A panic while holding this lock cannot leave the maps inconsistent; keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn own(labels: &[(&'static str, &str)]) -> Labels {
    labels.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

fn fmt_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_labels_share_a_cell_and_render() {
        let m = Metrics::new();
        m.counter("sluice_x_total", "x", &[("component", "a")])
            .add(2);
        m.counter("sluice_x_total", "x", &[("component", "a")])
            .inc();
        m.gauge("sluice_q", "q", &[]).set(4);
        assert_eq!(m.counter_value("sluice_x_total", &[("component", "a")]), 3);
        let text = m.render();
        assert!(text.contains("sluice_x_total{component=\"a\"} 3"), "{text}");
        assert!(text.contains("# TYPE sluice_q gauge\nsluice_q 4"), "{text}");
    }

    #[test]
    fn histograms_gauge_fns_and_escaping_render_as_exposition_format() {
        let m = Metrics::new();
        let h = m.histogram(
            "sluice_lat_seconds",
            "Latency\\n",
            &[("component", "o\"1\n")],
        );
        h.observe(0.0003);
        h.observe(0.2);
        h.observe(99.0);
        assert_eq!(h.count(), 3);
        m.gauge_fn(
            "sluice_fill",
            "fill",
            &[("queue", "a")],
            Arc::new(|| Some(7)),
        );
        m.gauge_fn(
            "sluice_fill",
            "fill",
            &[("queue", "gone")],
            Arc::new(|| None),
        );
        m.gauge("sluice_fill", "fill", &[("queue", "b")]).set(1);
        let text = m.render();
        let l = r#"component="o\"1\n""#;
        for want in [
            "# HELP sluice_lat_seconds Latency\\\\n\n# TYPE sluice_lat_seconds histogram\n",
            &format!("sluice_lat_seconds_bucket{{{l},le=\"0.0001\"}} 0\n"),
            &format!("sluice_lat_seconds_bucket{{{l},le=\"0.0005\"}} 1\n"),
            &format!("sluice_lat_seconds_bucket{{{l},le=\"0.25\"}} 2\n"),
            &format!("sluice_lat_seconds_bucket{{{l},le=\"10\"}} 2\n"),
            &format!("sluice_lat_seconds_bucket{{{l},le=\"+Inf\"}} 3\n"),
            &format!("sluice_lat_seconds_count{{{l}}} 3\n"),
            "sluice_fill{queue=\"a\"} 7\n",
            "sluice_fill{queue=\"b\"} 1\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains("gone"), "{text}");
        assert_eq!(
            text.matches("# TYPE sluice_fill gauge").count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn histograms_keep_their_own_buckets() {
        let m = Metrics::new();
        let h = m.histogram_with("sluice_e2e_seconds", "e2e", &[], END_TO_END_BUCKETS);
        h.observe(0.0012);
        h.observe(0.0175);
        // Registered again with other bounds: the first ones stay.
        m.histogram("sluice_e2e_seconds", "e2e", &[]).observe(0.004);
        let text = m.render();
        for want in [
            "sluice_e2e_seconds_bucket{le=\"0.001\"} 0\n",
            "sluice_e2e_seconds_bucket{le=\"0.0015\"} 1\n",
            "sluice_e2e_seconds_bucket{le=\"0.004\"} 2\n",
            "sluice_e2e_seconds_bucket{le=\"0.015\"} 2\n",
            "sluice_e2e_seconds_bucket{le=\"0.0175\"} 3\n",
            "sluice_e2e_seconds_bucket{le=\"60\"} 3\n",
            "sluice_e2e_seconds_count 3\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(END_TO_END_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }
}
