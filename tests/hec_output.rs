//! The `splunk_hec` output end to end: the real binary against a receiver that follows Splunk's
//! HEC API (and against Sluice's own HEC input), with faults injected.

mod common;
mod http_support;
mod siem_support;

use std::collections::HashSet;
use std::time::Duration;

use common::Agent;
use http_support::{curl, logged_address};
use serde_json::json;
use siem_support::*;

const TOKEN: &str = "11111111-2222-3333-4444-555555555555";

fn metrics(agent: &Agent) -> String {
    match logged_address(&agent.logs(), "API listening") {
        Some(api) => curl(&[&format!("http://{api}/metrics")]).body,
        None => String::new(),
    }
}

fn unique_ids(events: &[serde_json::Value]) -> HashSet<usize> {
    events
        .iter()
        .flat_map(|e| ids(e["event"]["event"]["original"].as_str().unwrap_or("")))
        .collect()
}

#[test]
fn delivers_every_record_with_splunk_metadata_and_indexer_acks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 3000;
    write_lines(d, n);
    let hec = hec(TOKEN, true, 2, None);
    let cfg = write_config(
        d,
        &format!(
            "type: splunk_hec\ninputs: [app]\nendpoint: {}\ntoken: {TOKEN}\ndlq: dead\nack: true\nack_poll_interval: 50ms\nbatch:\n  max_events: 400\n  timeout: 200ms\nsourcetypes:\n  syslog: linux:syslog",
            hec.url("http")
        ),
    );
    let agent = Agent::start(d, &cfg);
    wait_logged(&agent, "every record at the receiver", || {
        unique_ids(&hec.events()).len() == n
    });
    wait_logged(&agent, "the sent counter", || {
        metric(
            &metrics(&agent),
            "sluice_component_sent_records_total{component=\"siem\"",
        ) == n as u64
    });
    let events = hec.events();
    for e in &events {
        let st = e["sourcetype"].as_str().unwrap();
        let original = e["event"]["event"]["original"].as_str().unwrap();
        if original.starts_with("<13>") {
            assert_eq!(st, "linux:syslog", "the map overrides the default: {e}");
            assert_eq!(e["host"], "web01", "{e}");
        } else {
            assert_eq!(st, "pan:traffic", "{e}");
        }
        assert!(e["time"].as_f64().unwrap() > 1_000_000_000.0, "{e}");
        assert!(e["source"].as_str().unwrap().ends_with("app.log"), "{e}");
        assert_eq!(e["event"]["sluice"]["input"], "app");
    }
    let s = hec.state.lock().unwrap();
    assert!(s.requests >= n / 400, "{} requests", s.requests);
    assert_eq!(s.gzip_requests, s.requests, "gzip is the default");
    assert_eq!(s.channels.len(), 1);
    assert_eq!(s.channels[0].len(), 36, "a GUID channel: {:?}", s.channels);
    assert!(
        s.ack_polls >= 2 * s.requests,
        "every ackId polled until true"
    );
    assert!(s.pending_acks.is_empty(), "every ackId read as indexed");
    drop(s);
    assert!(dlq_lines(&d.join("dlq")).is_empty());
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn retries_busy_and_slow_answers_and_429_then_delivers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 600;
    write_lines(d, n);
    let hec = hec(TOKEN, false, 0, None);
    for _ in 0..3 {
        hec.fault(Fault::Answer(Answer::json(
            503,
            json!({"text": "Server is busy", "code": 9}),
        )));
    }
    // Answered after the client's timeout: counts as a failure, and the events arrive twice.
    hec.fault(Fault::Slow(Duration::from_secs(3)));
    let mut busy = Answer::json(429, json!({"text": "Server is busy", "code": 9}));
    busy.headers.push(("retry-after".into(), "1".into()));
    hec.fault(Fault::Answer(busy));
    let cfg = write_config(
        d,
        &format!(
            "type: splunk_hec\ninputs: [app]\nendpoint: {}\ntoken: {TOKEN}\ndlq: dead\ntimeout: 1s\nconcurrency: 1\nretry:\n  initial_backoff: 50ms\n  max_backoff: 300ms",
            hec.url("http")
        ),
    );
    let agent = Agent::start(d, &cfg);
    wait_logged(&agent, "every record at the receiver", || {
        unique_ids(&hec.events()).len() == n
    });
    wait_logged(&agent, "the sent counter", || {
        metric(
            &metrics(&agent),
            "sluice_component_sent_records_total{component=\"siem\"",
        ) == n as u64
    });
    let page = metrics(&agent);
    assert!(
        metric(&page, "sluice_output_retries_total{component=\"siem\"") >= 5,
        "{page}"
    );
    assert!(dlq_lines(&d.join("dlq")).is_empty());
    assert!(hec.state.lock().unwrap().faults.is_empty());
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn a_refused_event_is_parked_and_the_others_are_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 200;
    write_lines(d, n);
    let hec = hec(TOKEN, false, 0, None);
    hec.fault(Fault::InvalidEvent(3));
    let cfg = write_config(
        d,
        &format!(
            "type: splunk_hec\ninputs: [app]\nendpoint: {}\ntoken: {TOKEN}\ndlq: dead\ncompression: none\nbatch:\n  timeout: 500ms\nretry:\n  initial_backoff: 50ms",
            hec.url("http")
        ),
    );
    let agent = Agent::start(d, &cfg);
    wait_logged(&agent, "the refused record in the dlq", || {
        dlq_lines(&d.join("dlq")).len() == 1
    });
    wait_logged(&agent, "the others at the receiver", || {
        unique_ids(&hec.events()).len() == n - 1
    });
    let parked = &dlq_lines(&d.join("dlq"))[0];
    assert_eq!(parked["output"], "siem");
    assert_eq!(parked["input"], "app");
    assert_eq!(parked["reason"], "rejected");
    assert!(
        parked["error"]
            .as_str()
            .unwrap()
            .contains("Invalid data format"),
        "{parked}"
    );
    let id = ids(parked["original"].as_str().unwrap())[0];
    assert!(!unique_ids(&hec.events()).contains(&id));
    assert_eq!(hec.state.lock().unwrap().gzip_requests, 0);
    wait_logged(&agent, "the counters", || {
        let page = metrics(&agent);
        metric(
            &page,
            "sluice_dlq_records_total{output=\"siem\",reason=\"rejected\"",
        ) == 1
            && metric(
                &page,
                "sluice_component_sent_records_total{component=\"siem\"",
            ) == (n - 1) as u64
    });
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn sluice_to_sluice_over_hec_with_tls_and_indexer_acks() {
    let dir = tempfile::tempdir().unwrap();
    let recv_dir = dir.path().join("receiver");
    let send_dir = dir.path().join("sender");
    std::fs::create_dir_all(&recv_dir).unwrap();
    std::fs::create_dir_all(&send_dir).unwrap();
    let (ca, cert, key) = http_support::certificates(dir.path());
    let (receiver, addr) = http_support::start(
        &recv_dir,
        &format!(
            "type: splunk_hec\nlisten: 127.0.0.1:0\ntoken: {TOKEN}\nack: true\ntls:\n  cert_file: {}\n  key_file: {}",
            cert.display(),
            key.display()
        ),
        "",
    );
    let port = addr.rsplit(':').next().unwrap();
    let n = 1000;
    write_lines(&send_dir, n);
    let cfg = write_config(
        &send_dir,
        &format!(
            "type: splunk_hec\ninputs: [app]\nendpoint: https://localhost:{port}\ntoken: {TOKEN}\ndlq: dead\nack: true\nack_poll_interval: 100ms\ntls:\n  ca_file: {}",
            ca.display()
        ),
    );
    let sender = Agent::start(&send_dir, &cfg);
    let out = recv_dir.join("out");
    wait_logged(&sender, "every record through both agents", || {
        let got: HashSet<usize> = common::read_docs(&out)
            .iter()
            .flat_map(|d| ids(&d.to_string()))
            .collect();
        got.len() == n
    });
    assert!(dlq_lines(&send_dir.join("dlq")).is_empty());
    assert_eq!(sender.stop(), Some(0));
    assert_eq!(receiver.stop(), Some(0));
}

#[test]
fn exhausted_retries_park_records_and_replay_sends_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let n = 100;
    write_lines(d, n);
    let hec = hec(TOKEN, false, 0, None);
    for _ in 0..3 {
        hec.fault(Fault::Answer(Answer::json(
            503,
            json!({"text": "HEC is unhealthy, queues are full", "code": 18}),
        )));
    }
    let cfg = write_config(
        d,
        &format!(
            "type: splunk_hec\ninputs: [app]\nendpoint: {}\ntoken: {TOKEN}\ndlq: dead\nbatch:\n  max_events: 1000\n  timeout: 1s\nretry:\n  max_retries: 2\n  initial_backoff: 50ms",
            hec.url("http")
        ),
    );
    let agent = Agent::start(d, &cfg);
    wait_logged(&agent, "every record in the dlq", || {
        dlq_lines(&d.join("dlq")).len() == n
    });
    let lines = dlq_lines(&d.join("dlq"));
    assert!(lines
        .iter()
        .all(|l| l["reason"] == "retries_exhausted" && l["attempts"] == 3));
    assert!(lines[0]["error"]
        .as_str()
        .unwrap()
        .contains("queues are full"));
    wait_logged(&agent, "the counter", || {
        metric(
            &metrics(&agent),
            "sluice_dlq_records_total{output=\"siem\",reason=\"retries_exhausted\"",
        ) == n as u64
    });
    assert!(hec.events().is_empty());
    assert_eq!(agent.stop(), Some(0));

    let stats = std::process::Command::new(common::BIN)
        .args(["dlq", "stats"])
        .arg(d.join("dlq"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.status.success(), "{text}");
    assert!(text.contains(&format!("{n} records in 1 files")), "{text}");
    assert!(text.contains("retries_exhausted"), "{text}");

    // The service is back: replay delivers every parked record and marks the file done.
    let replay = std::process::Command::new(common::BIN)
        .args(["dlq", "replay", "--from"])
        .arg(d.join("dlq"))
        .arg("-c")
        .arg(&cfg)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&replay.stdout);
    assert!(
        replay.status.success(),
        "{out} {}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(
        out.contains(&format!("{n} records replayed; 1 files done")),
        "{out}"
    );
    assert_eq!(unique_ids(&hec.events()).len(), n);
    assert!(dlq_lines(&d.join("dlq")).is_empty());
    assert!(d.join("dlq/dlq-00000001.ndjson.replayed").exists());
}
