//! Counters and gauges for `/metrics`, owned by the running agent (no global registry).
//!
//! Components register a handle once (a map lookup under a lock) and then bump an atomic on the
//! hot path. Handles survive reloads: registering the same name and labels returns the same cell.

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

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Families {
    counters: BTreeMap<(&'static str, Labels), Counter>,
    gauges: BTreeMap<(&'static str, Labels), Gauge>,
    help: BTreeMap<&'static str, &'static str>,
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

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let f = self.lock();
        let mut out = String::new();
        let mut last = "";
        for ((name, labels), c) in &f.counters {
            if *name != last {
                let _ = writeln!(out, "# HELP {name} {}", f.help.get(name).unwrap_or(&""));
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let _ = writeln!(out, "{name}{} {}", fmt_labels(labels), c.get());
        }
        for ((name, labels), g) in &f.gauges {
            if *name != last {
                let _ = writeln!(out, "# HELP {name} {}", f.help.get(name).unwrap_or(&""));
                let _ = writeln!(out, "# TYPE {name} gauge");
                last = name;
            }
            let _ = writeln!(out, "{name}{} {}", fmt_labels(labels), g.get());
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
}
