//! The `splunk_hec` input end to end: the real binary, `curl` speaking Splunk's HEC protocol.

mod common;
mod http_support;

use serde_json::json;

use http_support::*;

const TOKEN: &str = "11111111-2222-3333-4444-555555555555";
const CHANNEL: &str = "0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba";

fn auth() -> String {
    format!("Authorization: Splunk {TOKEN}")
}

#[test]
fn event_raw_and_health_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (agent, addr) = start(
        d,
        &format!("type: splunk_hec\nlisten: 127.0.0.1:0\ntoken: {TOKEN}"),
        "",
    );
    let base = format!("http://{addr}/services/collector");

    let r = curl(&[&format!("{base}/health")]);
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"text": "HEC is healthy", "code": 17}))
    );

    // Concatenated event objects, string and object events, with and without whitespace between.
    let mut body = String::new();
    for i in 0..40 {
        body.push_str(&format!(
            "{{\"time\": 1700000000.{i:03}, \"host\": \"web-1\", \"sourcetype\": \"app\", \"event\": \"string event {i}\"}}"
        ));
        body.push_str(&format!("\n{{\"event\": {{\"n\": {i}, \"msg\": \"object event\"}}, \"fields\": {{\"f\": \"v\"}}}}"));
    }
    let f = body_file(d, "events", body.as_bytes());
    let r = curl(&[
        "-H",
        &auth(),
        "--data-binary",
        &format!("@{}", f.display()),
        &format!("{base}/event"),
    ]);
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"text": "Success", "code": 0})),
        "{r:?}"
    );

    // `/services/collector` is the same endpoint; gzip bodies are accepted.
    let more: String = (0..10)
        .map(|i| format!("{{\"event\":\"gz {i}\"}}"))
        .collect();
    let f = body_file(d, "gz", &gzip(more.as_bytes()));
    let r = curl(&[
        "-H",
        &auth(),
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        &format!("@{}", f.display()),
        &base,
    ]);
    assert_eq!(r.status, 200, "{r:?}");

    let raw: String = (0..25)
        .map(|i| format!("<13>Oct 11 22:14:15 host app: raw line {i}\n"))
        .collect();
    let r = curl(&[
        "-H",
        &auth(),
        "--data-binary",
        &raw,
        &format!("{base}/raw?sourcetype=syslog&host=h"),
    ]);
    assert_eq!(
        (r.status, r.json()["code"].as_u64()),
        (200, Some(0)),
        "{r:?}"
    );

    let docs = wait_docs(&d.join("out"), 115);
    assert_eq!(
        docs.len(),
        115,
        "80 events + 10 gzipped + 25 raw lines, each once"
    );
    let messages: Vec<&str> = docs.iter().filter_map(|d| d["message"].as_str()).collect();
    assert!(
        messages.contains(&"string event 39"),
        "a string event is the record as it is"
    );
    let originals: Vec<&str> = docs
        .iter()
        .filter_map(|d| d["event"]["original"].as_str())
        .collect();
    assert!(
        originals.contains(&r#"{"n":3,"msg":"object event"}"#),
        "an object event is compact JSON"
    );
    // HEC metadata travels with each record.
    let ev = docs
        .iter()
        .find(|d| d["message"] == "string event 39")
        .expect("string event 39");
    let t = chrono::DateTime::parse_from_rfc3339(ev["@timestamp"].as_str().unwrap()).unwrap();
    assert_eq!(t.timestamp_millis(), 1_700_000_000_039, "{ev}");
    assert_eq!(ev["host"]["name"], "web-1");
    assert_eq!(ev["splunk"]["sourcetype"], "app");
    let obj = docs
        .iter()
        .find(|d| d["event"]["original"] == r#"{"n":3,"msg":"object event"}"#)
        .unwrap();
    assert_eq!(obj["splunk"]["fields"]["f"], "v", "{obj}");
    let syslog: Vec<_> = docs
        .iter()
        .filter(|d| d["sluice"]["source_type"] == "syslog")
        .collect();
    assert_eq!(syslog.len(), 25, "raw syslog lines are detected as syslog");
    assert!(syslog.iter().all(|d| d["splunk"]["sourcetype"] == "syslog"));
    assert!(docs.iter().all(|d| d["log"]["source"]["address"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:"))));
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn refusals_use_splunk_codes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("tokens"), format!("{TOKEN}\nsecond-token\n")).unwrap();
    let cfg = format!(
        "type: splunk_hec\nlisten: 127.0.0.1:0\ntokens_file: {}\nindexes: [main]",
        d.join("tokens").display()
    );
    let (agent, addr) = start(d, &cfg, "");
    let url = format!("http://{addr}/services/collector/event");
    let ev = r#"{"event":"hello"}"#;
    let check = |args: &[&str], status: u16, code: u64| {
        let r = curl(args);
        assert_eq!(
            (r.status, r.json()["code"].as_u64()),
            (status, Some(code)),
            "{args:?}: {r:?}"
        );
        r
    };
    check(&["--data-binary", ev, &url], 401, 2);
    check(
        &[
            "-H",
            "Authorization: Splunk wrong",
            "--data-binary",
            ev,
            &url,
        ],
        403,
        4,
    );
    check(
        &["-H", "Authorization: Bearer x", "--data-binary", ev, &url],
        401,
        3,
    );
    check(
        &["--data-binary", ev, &format!("{url}?token={TOKEN}")],
        400,
        16,
    );
    check(&["-H", &auth(), "--data-binary", "", &url], 400, 5);
    let r = check(
        &[
            "-H",
            &auth(),
            "--data-binary",
            r#"{"event":"ok"}{"event":"broken""#,
            &url,
        ],
        400,
        6,
    );
    assert_eq!(r.json()["invalid-event-number"], 1);
    check(
        &["-H", &auth(), "--data-binary", r#"{"host":"h"}"#, &url],
        400,
        12,
    );
    check(
        &["-H", &auth(), "--data-binary", r#"{"event":""}"#, &url],
        400,
        13,
    );
    check(
        &[
            "-H",
            &auth(),
            "--data-binary",
            r#"{"event":"x","index":"secret"}"#,
            &url,
        ],
        400,
        7,
    );
    check(
        &[
            "-H",
            &auth(),
            "--data-binary",
            "{}",
            &format!("http://{addr}/services/collector/ack"),
        ],
        400,
        14,
    );
    // What works: the second token, HTTP Basic with the token as password, an allowed index.
    check(
        &[
            "-H",
            "Authorization: Splunk second-token",
            "--data-binary",
            ev,
            &url,
        ],
        200,
        0,
    );
    check(
        &[
            "-u",
            &format!("x:{TOKEN}"),
            "--data-binary",
            r#"{"event":"b","index":"main"}"#,
            &url,
        ],
        200,
        0,
    );
    let docs = wait_docs(&d.join("out"), 2);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        common::read_docs(&d.join("out")).len(),
        2,
        "refused bodies send nothing: {docs:?}"
    );
    assert!(!agent.logs().contains(TOKEN), "tokens never logged");
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn indexer_acknowledgement_reports_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = format!("type: splunk_hec\nlisten: 127.0.0.1:0\ntoken: {TOKEN}\nack: true\nallow_query_string_auth: true");
    let (agent, addr) = start(d, &cfg, "");
    let base = format!("http://{addr}/services/collector");
    let ev = r#"{"event":"acked 1"}{"event":"acked 2"}"#;
    let r = curl(&["-H", &auth(), "--data-binary", ev, &format!("{base}/event")]);
    assert_eq!(
        (r.status, r.json()["code"].as_u64()),
        (400, Some(10)),
        "channel required: {r:?}"
    );
    let r = curl(&[
        "-H",
        &auth(),
        "-H",
        "X-Splunk-Request-Channel: not-a-guid",
        "--data-binary",
        ev,
        &format!("{base}/event"),
    ]);
    assert_eq!(
        (r.status, r.json()["code"].as_u64()),
        (400, Some(11)),
        "{r:?}"
    );

    let channel = format!("X-Splunk-Request-Channel: {CHANNEL}");
    let r = curl(&[
        "-H",
        &auth(),
        "-H",
        &channel,
        "--data-binary",
        ev,
        &format!("{base}/event"),
    ]);
    assert_eq!(
        r.json(),
        json!({"text": "Success", "code": 0, "ackId": 0}),
        "{r:?}"
    );
    // The raw endpoint, with the channel and token in the query string.
    let r = curl(&[
        "--data-binary",
        "acked raw\n",
        &format!("{base}/raw?channel={CHANNEL}&token={TOKEN}"),
    ]);
    assert_eq!(
        r.json(),
        json!({"text": "Success", "code": 0, "ackId": 1}),
        "{r:?}"
    );

    let query = |ids: &str| {
        curl(&[
            "-H",
            &auth(),
            "-H",
            &channel,
            "--data-binary",
            &format!("{{\"acks\":[{ids}]}}"),
            &format!("{base}/ack"),
        ])
        .json()
    };
    common::wait_for("both acks", T, || {
        query("0,1") == json!({"acks": {"0": true, "1": true}})
    });
    // True means delivered: the records are in the output now.
    let docs = common::read_docs(&d.join("out"));
    assert_eq!(docs.len(), 3, "{docs:?}");
    // Reported once, as Splunk does; unknown ids are false.
    assert_eq!(
        query("0,1,7"),
        json!({"acks": {"0": false, "1": false, "7": false}})
    );
    let r = curl(&[
        "-H",
        &auth(),
        "--data-binary",
        "{\"acks\":[0]}",
        &format!("{base}/ack"),
    ]);
    assert_eq!(
        (r.status, r.json()["code"].as_u64()),
        (400, Some(10)),
        "{r:?}"
    );
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn a_full_pipeline_is_server_busy() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    block_output(&d.join("out"));
    let extra = "pipeline:\n  threads: 1\n  queue_batches: 1\n";
    let (agent, addr) = start(d, "type: splunk_hec\nlisten: 127.0.0.1:0", extra);
    let base = format!("http://{addr}/services/collector");
    let mut last = None;
    for i in 0..30 {
        let r = curl(&[
            "--data-binary",
            &format!("{{\"event\":\"e{i}\"}}"),
            &format!("{base}/event"),
        ]);
        if r.status != 200 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("the pipeline filled up");
    assert_eq!(
        (r.status, r.json()),
        (503, json!({"text": "Server is busy", "code": 9})),
        "{r:?}"
    );
    assert!(r.headers.to_ascii_lowercase().contains("retry-after: 1"));
    let r = curl(&[&format!("{base}/health")]);
    assert_eq!(
        (r.status, r.json()["code"].as_u64()),
        (503, Some(18)),
        "{r:?}"
    );
    agent.kill9();
}
