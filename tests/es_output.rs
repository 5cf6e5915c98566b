//! The `elasticsearch` output end to end: the real binary against a receiver that follows the
//! `_bulk` API (NDJSON pairs, per-item status and error, the `errors` flag), with faults injected.

mod common;
mod http_support;
mod siem_support;

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use common::Agent;
use http_support::{curl, logged_address};
use serde_json::json;
use siem_support::*;

fn metrics(agent: &Agent) -> String {
    match logged_address(&agent.logs(), "API listening") {
        Some(api) => curl(&[&format!("http://{api}/metrics")]).body,
        None => String::new(),
    }
}

fn unique_ids(docs: &[(String, serde_json::Value)]) -> HashSet<usize> {
    docs.iter()
        .flat_map(|(_, d)| ids(d["event"]["original"].as_str().unwrap_or("")))
        .collect()
}

#[test]
fn bulk_answers_are_read_item_by_item() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 1200;
    write_lines(d, n);
    let es = elasticsearch(Some("ApiKey c2x1aWNlOnNlY3JldA==".into()), None);
    {
        let mut s = es.state.lock().unwrap();
        // 200 with "errors": true: one item throttled twice, one refused for good, one 503 once.
        s.item_faults.push((
            "id000007x".into(),
            429,
            "es_rejected_execution_exception",
            2,
        ));
        s.item_faults
            .push(("id000011x".into(), 400, "mapper_parsing_exception", 99));
        s.item_faults
            .push(("id000013x".into(), 503, "unavailable_shards_exception", 1));
    }
    let cfg = write_config(
        d,
        &format!(
            "type: elasticsearch\ninputs: [app]\nendpoint: {}\napi_key: c2x1aWNlOnNlY3JldA==\nnamespace: prod\ndlq: dead\nbatch:\n  max_events: 500\n  timeout: 200ms\nretry:\n  initial_backoff: 50ms",
            es.url("http")
        ),
    );
    let agent = Agent::start(d, &cfg);
    wait_logged(&agent, "every accepted record at the receiver", || {
        unique_ids(&es.docs()).len() == n - 1
    });
    wait_logged(&agent, "the refused record in the dlq", || {
        dlq_lines(&d.join("dlq")).len() == 1
    });
    let parked = &dlq_lines(&d.join("dlq"))[0];
    assert_eq!(parked["reason"], "rejected");
    assert_eq!(parked["output"], "siem");
    let err = parked["error"].as_str().unwrap();
    assert!(
        err.contains("mapper_parsing_exception") && err.contains("HTTP 400"),
        "{err}"
    );
    assert_eq!(ids(parked["original"].as_str().unwrap()), vec![11]);
    let docs = es.docs();
    assert!(!unique_ids(&docs).contains(&11));
    // Only the failed items were sent again: no duplicates.
    assert_eq!(docs.len(), n - 1);
    for (index, doc) in &docs {
        let expected = match doc["sluice"]["source_type"].as_str().unwrap() {
            "panos" => "logs-panw.panos-prod",
            _ => "logs-system.syslog-prod",
        };
        assert_eq!(index, expected, "{doc}");
    }
    wait_logged(&agent, "the counters", || {
        let page = metrics(&agent);
        metric(
            &page,
            "sluice_component_sent_records_total{component=\"siem\"",
        ) == (n - 1) as u64
            && metric(
                &page,
                "sluice_dlq_records_total{output=\"siem\",reason=\"rejected\"",
            ) == 1
            && metric(&page, "sluice_output_retries_total{component=\"siem\"") >= 2
    });
    let s = es.state.lock().unwrap();
    assert_eq!(s.gzip_requests, s.requests);
    drop(s);
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn whole_request_429_and_timeouts_are_retried_over_tls_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 400;
    write_lines(d, n);
    let (ca, cert, key) = http_support::certificates(d);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("sluice:s3cret")
    );
    let es = elasticsearch(Some(basic), Some((&cert, &key)));
    let mut throttled = Answer::json(
        429,
        json!({"error": {"type": "circuit_breaking_exception", "reason": "[parent] Data too large"}, "status": 429}),
    );
    throttled.headers.push(("retry-after".into(), "1".into()));
    es.fault(Fault::Answer(throttled));
    es.fault(Fault::Slow(Duration::from_secs(3)));
    es.fault(Fault::Answer(Answer::json(
        503,
        json!({"error": {"type": "cluster_block_exception", "reason": "blocked by: [SERVICE_UNAVAILABLE/2/no master]"}, "status": 503}),
    )));
    std::fs::write(d.join("password"), "s3cret\n").unwrap();
    let cfg = write_config(
        d,
        &format!(
            "type: elasticsearch\ninputs: [app]\nendpoint: {}\nusername: sluice\npassword_file: {}\ndlq: dead\ntimeout: 1s\nconcurrency: 1\ntls:\n  ca_file: {}\nretry:\n  initial_backoff: 50ms",
            es.url("https"),
            d.join("password").display(),
            ca.display()
        ),
    );
    let agent = Agent::start(d, &cfg);
    wait_logged(&agent, "every record at the receiver", || {
        unique_ids(&es.docs()).len() == n
    });
    assert!(dlq_lines(&d.join("dlq")).is_empty());
    wait_logged(&agent, "the counters", || {
        let page = metrics(&agent);
        metric(
            &page,
            "sluice_component_sent_records_total{component=\"siem\"",
        ) == n as u64
            && metric(&page, "sluice_output_retries_total{component=\"siem\"") >= 3
    });
    assert!(es.state.lock().unwrap().faults.is_empty());
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn without_a_dlq_refused_records_are_counted_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 50;
    write_lines(d, n);
    let es = elasticsearch(None, None);
    es.state.lock().unwrap().item_faults.push((
        "id000004x".into(),
        400,
        "mapper_parsing_exception",
        99,
    ));
    let cfg = write_config(
        d,
        &format!(
            "type: elasticsearch\ninputs: [app]\nendpoint: {}\nbatch:\n  timeout: 100ms",
            es.url("http")
        ),
    );
    let agent = Agent::start(d, &cfg);
    wait_logged(&agent, "the counters", || {
        let page = metrics(&agent);
        metric(
            &page,
            "sluice_dropped_records_total{component=\"siem\",reason=\"rejected\"",
        ) == 1
            && metric(
                &page,
                "sluice_component_sent_records_total{component=\"siem\"",
            ) == (n - 1) as u64
    });
    assert_eq!(unique_ids(&es.docs()).len(), n - 1);
    assert_eq!(agent.stop(), Some(0));
}
