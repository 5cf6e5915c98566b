//! The status page: `GET /` serves one self-contained HTML page (no CDN, no external script) that
//! polls `GET /v1/status`, a JSON summary of what an operator looks at first: each component's
//! state and throughput, the mix of detected source types, parse failures, drops, the dead-letter
//! queue, queue and buffer fill, and the last reload. Everything is read from the readiness
//! registry and the metrics registry at request time; nothing is kept per request.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::{json_response, Shared};
use crate::metrics::Metrics;
use crate::readiness::ComponentState;

/// The page; its script polls `/v1/status` every 2 s.
const PAGE: &str = include_str!("status.html");

pub(super) async fn page() -> Response {
    let mut r = Response::new(Body::from(PAGE));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The page loads nothing from elsewhere; say so to the browser too.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        ),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(super) async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let body = snapshot(
        &shared.deps.metrics,
        &shared.deps.readiness,
        shared.deps.started,
    );
    json_response(StatusCode::OK, body.to_string())
}

/// Values of one family summed by the value of `label`.
fn by_label(metrics: &Metrics, name: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (labels, v) in metrics.series(name) {
        let key = labels
            .iter()
            .find(|(k, _)| *k == label)
            .map_or_else(String::new, |(_, v)| v.clone());
        *out.entry(key).or_insert(0.0) += v;
    }
    out
}

fn total(metrics: &Metrics, name: &str) -> f64 {
    metrics.series(name).iter().fold(0.0, |a, (_, v)| a + v)
}

/// Whole numbers as JSON integers (counts), anything else as a float.
fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn as_json(m: BTreeMap<String, f64>) -> Value {
    Value::Object(m.into_iter().map(|(k, v)| (k, num(v))).collect())
}

/// The `/v1/status` document.
pub fn snapshot(
    metrics: &Metrics,
    readiness: &crate::readiness::Readiness,
    started: std::time::Instant,
) -> Value {
    let report = readiness.report();
    let received = by_label(
        metrics,
        "sluice_component_received_records_total",
        "component",
    );
    let received_bytes = by_label(
        metrics,
        "sluice_component_received_bytes_total",
        "component",
    );
    let sent = by_label(metrics, "sluice_component_sent_records_total", "component");
    let sent_bytes = by_label(metrics, "sluice_component_sent_bytes_total", "component");
    let errors = by_label(metrics, "sluice_component_errors_total", "component");
    let retries = by_label(metrics, "sluice_output_retries_total", "component");
    let components: Vec<Value> = report
        .components
        .iter()
        .map(|(label, state)| {
            let (kind, name) = label.split_once(' ').unwrap_or(("", label.as_str()));
            let (records, bytes) = if kind == "input" {
                (&received, &received_bytes)
            } else {
                (&sent, &sent_bytes)
            };
            let (state, reason) = match state {
                ComponentState::Starting => ("starting", None),
                ComponentState::Ready => ("ready", None),
                ComponentState::Failed(why) => ("failed", Some(why.clone())),
            };
            json!({
                "kind": kind,
                "name": name,
                "state": state,
                "reason": reason,
                "records": num(records.get(name).copied().unwrap_or(0.0)),
                "bytes": num(bytes.get(name).copied().unwrap_or(0.0)),
                "errors": num(errors.get(name).copied().unwrap_or(0.0)),
                "retries": num(retries.get(name).copied().unwrap_or(0.0)),
            })
        })
        .collect();
    // Queues (always there) and disk buffers (when an output has one), as fill ratios.
    let mut buffers = Vec::new();
    let capacity: Vec<_> = metrics.series("sluice_queue_capacity_batches");
    for (labels, used) in metrics.series("sluice_queue_batches") {
        let cap = capacity
            .iter()
            .find(|(l, _)| *l == labels)
            .map_or(0.0, |(_, v)| *v);
        buffers.push(buffer_json("queue", &labels, used, cap, "batches"));
    }
    let max_bytes = metrics.series("sluice_buffer_max_bytes");
    for (labels, used) in metrics.series("sluice_buffer_bytes") {
        let cap = max_bytes
            .iter()
            .find(|(l, _)| *l == labels)
            .map_or(0.0, |(_, v)| *v);
        buffers.push(buffer_json("disk", &labels, used, cap, "bytes"));
    }
    let reloads = by_label(metrics, "sluice_config_reloads_total", "result");
    let last_reload = readiness.last_reload().map(|r| {
        json!({
            "at": r.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "result": if r.error.is_none() { "success" } else { "failure" },
            "error": r.error,
        })
    });
    let dlq = by_label(metrics, "sluice_dlq_records_total", "output");
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": started.elapsed().as_secs(),
        "phase": report.phase.as_str(),
        "ready": report.ready,
        "reasons": report.reasons,
        "components": components,
        "source_types": as_json(by_label(metrics, "sluice_detected_total", "source_type")),
        "parse_failures": {
            "total": num(total(metrics, "sluice_parse_failures_total")),
            "by_source_type": as_json(by_label(metrics, "sluice_parse_failures_total", "source_type")),
        },
        "dropped": {
            "total": num(total(metrics, "sluice_dropped_records_total")),
            "by_reason": as_json(by_label(metrics, "sluice_dropped_records_total", "reason")),
        },
        "dlq": {
            "total": num(dlq.values().fold(0.0, |a, v| a + v)),
            "by_output": as_json(dlq),
        },
        "buffers": buffers,
        "reloads": {
            "success": num(reloads.get("success").copied().unwrap_or(0.0)),
            "failure": num(reloads.get("failure").copied().unwrap_or(0.0)),
            "last": last_reload,
        },
    })
}

fn buffer_json(
    kind: &str,
    labels: &[(&'static str, String)],
    used: f64,
    capacity: f64,
    unit: &str,
) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!(kind));
    for (k, v) in labels {
        m.insert((*k).to_string(), json!(v));
    }
    m.insert("used".into(), num(used));
    m.insert("capacity".into(), num(capacity));
    m.insert("unit".into(), json!(unit));
    let fill = if capacity > 0.0 { used / capacity } else { 0.0 };
    m.insert("fill".into(), json!(fill));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readiness::{Phase, Readiness};

    #[test]
    fn snapshot_reads_the_registries() {
        let m = Metrics::new();
        let r = Readiness::new();
        let input = r.register("input", "app");
        input.ready();
        let out = r.register("output", "es");
        out.failed("HTTP 503");
        r.set_phase(Phase::Running);
        let c = |name, labels: &[(&'static str, &str)]| m.counter(name, "h", labels);
        c(
            "sluice_component_received_records_total",
            &[("component", "app"), ("kind", "input")],
        )
        .add(7);
        c("sluice_detected_total", &[("source_type", "syslog")]).add(5);
        c("sluice_detected_total", &[("source_type", "panos")]).add(2);
        c("sluice_parse_failures_total", &[("source_type", "panos")]).add(1);
        c(
            "sluice_dlq_records_total",
            &[("output", "es"), ("reason", "rejected")],
        )
        .add(3);
        m.gauge_fn(
            "sluice_queue_batches",
            "h",
            &[("component", "processors"), ("kind", "pipeline")],
            Arc::new(|| Some(4)),
        );
        m.gauge_fn(
            "sluice_queue_capacity_batches",
            "h",
            &[("component", "processors"), ("kind", "pipeline")],
            Arc::new(|| Some(16)),
        );
        r.reloaded(Some("outputs.es.url: bad".into()));
        let s = snapshot(&m, &r, std::time::Instant::now());
        assert_eq!(s["phase"], "running");
        assert_eq!(s["ready"], false);
        let comps = s["components"].as_array().unwrap();
        assert_eq!(comps[0]["name"], "app");
        assert_eq!(comps[0]["records"], 7.0);
        assert_eq!(comps[1]["state"], "failed");
        assert_eq!(comps[1]["reason"], "HTTP 503");
        assert_eq!(s["source_types"]["syslog"], 5.0);
        assert_eq!(s["parse_failures"]["total"], 1.0);
        assert_eq!(s["dlq"]["total"], 3.0);
        assert_eq!(s["buffers"][0]["fill"], 0.25);
        assert_eq!(s["reloads"]["last"]["result"], "failure");
        assert_eq!(s["reloads"]["failure"], 0.0);
    }
}
