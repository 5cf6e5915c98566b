//! The Kafka output and input against a real broker (tansu), with the real `sluice` binary.

mod common;
mod http_support;
mod kafka_support;
mod siem_support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{read_docs, wait_for, Agent};
use kafka_support::{broker, unique};
use siem_support::{dlq_lines, ids, wait_logged, write_config, write_lines};

const T: Duration = Duration::from_secs(60);

/// The checkpointed offset of every file of input `app`.
fn checkpoint_offsets(data: &Path) -> Vec<u64> {
    let Ok(text) = std::fs::read_to_string(data.join("checkpoints/app.json")) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v["files"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["offset"].as_u64()).collect())
        .unwrap_or_default()
}

#[test]
fn output_delivers_every_record_to_templated_topics_with_keys() {
    let b = broker();
    let prefix = unique("out");
    b.create_topic(&format!("{prefix}-syslog"), 2);
    b.create_topic(&format!("{prefix}-unknown"), 2);
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut text = String::new();
    for i in 0..400 {
        text.push_str(&format!(
            "<13>Mar  5 10:02:45 web-{} app[1]: syslog line {i}\n",
            i % 4
        ));
        text.push_str(&format!("plain line {i}\n"));
    }
    std::fs::write(logs.join("a.log"), &text).unwrap();
    let cfg = format!(
        r#"data_dir: {data}
inputs:
  app:
    type: file
    include: ["{logs}/*.log"]
    read_from: beginning
    poll_interval: 50ms
pipeline:
  batch_size: 64
outputs:
  bus:
    type: kafka
    inputs: [app]
    brokers: ["{addr}"]
    topic: "{prefix}-{{source_type}}"
    key: "{{host.hostname}}"
    compression: zstd
    concurrency: 4
    batch: {{max_events: 100, timeout: 100ms}}
    properties:
      linger.ms: 2
shutdown_timeout: 10s
"#,
        data = dir.path().join("data").display(),
        logs = logs.display(),
        addr = b.addr,
    );
    let path = dir.path().join("sluice.yaml");
    std::fs::write(&path, cfg).unwrap();
    let agent = Agent::start(dir.path(), &path);
    // The checkpoint moves only once Kafka confirmed the records: the delivery report is the ack.
    wait_for("the checkpoint to reach the end of the file", T, || {
        checkpoint_offsets(&dir.path().join("data")) == vec![text.len() as u64]
    });
    assert_eq!(agent.stop(), Some(0));

    let syslog = b.consume_all(&format!("{prefix}-syslog"), 400);
    let unknown = b.consume_all(&format!("{prefix}-unknown"), 400);
    assert_eq!((syslog.len(), unknown.len()), (400, 400));
    let mut seen = HashSet::new();
    for (_, _, key, payload) in &syslog {
        let doc: serde_json::Value = serde_json::from_str(payload).unwrap();
        assert_eq!(doc["sluice"]["source_type"], "syslog");
        let host = doc["host"]["hostname"].as_str().unwrap();
        assert_eq!(
            key.as_deref(),
            Some(host),
            "the key is the record's host.hostname"
        );
        let msg = doc["message"].as_str().unwrap().to_string();
        assert!(seen.insert(msg.clone()), "duplicate {msg}");
    }
    for (_, _, key, payload) in &unknown {
        let doc: serde_json::Value = serde_json::from_str(payload).unwrap();
        assert_eq!(doc["sluice"]["source_type"], "unknown");
        assert_eq!(key, &None, "no host.hostname: no key");
        assert!(seen.insert(doc["message"].as_str().unwrap().to_string()));
    }
    for i in 0..400 {
        assert!(
            seen.contains(&format!("syslog line {i}")),
            "syslog line {i}"
        );
        assert!(seen.contains(&format!("plain line {i}")), "plain line {i}");
    }
    // Records with the same key land in the same partition (the producer hashes the key).
    let mut by_key: HashMap<String, HashSet<i32>> = HashMap::new();
    for (p, _, key, _) in &syslog {
        by_key.entry(key.clone().unwrap()).or_default().insert(*p);
    }
    assert!(by_key.values().all(|ps| ps.len() == 1), "{by_key:?}");
}

/// A config with one Kafka input `kin` and a file output into `out/`.
fn input_config(dir: &Path, topics: &str, group: &str, extra: &str) -> std::path::PathBuf {
    let cfg = format!(
        r#"data_dir: {data}
inputs:
  kin:
    type: kafka
    brokers: ["{addr}"]
    topics: {topics}
    group_id: "{group}"
    auto_offset_reset: earliest
    commit_interval: 200ms
    properties:
      session.timeout.ms: "6000"
      heartbeat.interval.ms: "500"
      topic.metadata.refresh.interval.ms: "1000"
outputs:
  local:
    type: file
    inputs: [kin]
    path: "{out}/{{source_type}}.ndjson"
shutdown_timeout: 10s
{extra}
"#,
        data = dir.join("data").display(),
        addr = broker().addr,
        out = dir.join("out").display(),
    );
    let path = dir.join("sluice.yaml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// `(partition, offset)` → how many times the record came out, and its message.
fn kafka_positions(out: &Path) -> HashMap<(i64, i64), (usize, String)> {
    let mut m: HashMap<(i64, i64), (usize, String)> = HashMap::new();
    for d in read_docs(out) {
        let k = &d["kafka"];
        let (Some(p), Some(o)) = (k["partition"].as_i64(), k["offset"].as_i64()) else {
            continue;
        };
        let e = m
            .entry((p, o))
            .or_insert((0, d["message"].as_str().unwrap_or("").to_string()));
        e.0 += 1;
    }
    m
}

fn records(prefix: &str, range: std::ops::Range<usize>) -> Vec<(Option<String>, String)> {
    range
        .map(|i| (Some(format!("k{}", i % 7)), format!("{prefix} record {i}")))
        .collect()
}

#[test]
fn input_delivers_every_record_with_kafka_metadata() {
    let b = broker();
    let topic = unique("in");
    b.create_topic(&topic, 3);
    b.produce(&topic, &records("meta", 0..500));
    let dir = tempfile::tempdir().unwrap();
    let path = input_config(dir.path(), &format!("[\"{topic}\"]"), &unique("g"), "");
    let agent = Agent::start(dir.path(), &path);
    let out = dir.path().join("out");
    wait_for("500 records out", T, || read_docs(&out).len() >= 500);
    assert_eq!(agent.stop(), Some(0));
    let docs = read_docs(&out);
    assert_eq!(docs.len(), 500);
    let mut messages = HashSet::new();
    let mut positions = HashSet::new();
    for d in &docs {
        assert_eq!(d["kafka"]["topic"], topic.as_str());
        let p = d["kafka"]["partition"].as_i64().unwrap();
        let o = d["kafka"]["offset"].as_i64().unwrap();
        assert!((0..3).contains(&p) && o >= 0);
        assert!(positions.insert((p, o)), "one record per position");
        let msg = d["message"].as_str().unwrap();
        let i: usize = msg.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(d["kafka"]["key"], format!("k{}", i % 7).as_str());
        assert_eq!(d["sluice"]["input"], "kin");
        assert!(d["@timestamp"].is_string());
        messages.insert(msg.to_string());
    }
    assert_eq!(messages.len(), 500);
    // Everything delivered was committed on stop: the group resumes after the last record.
    let committed = b.committed(&path_group(&path), &topic, 3);
    let per_partition = |p: i64| positions.iter().filter(|(q, _)| *q == p).count() as i64;
    for p in 0..3 {
        assert_eq!(
            committed.get(&(p as i32)).copied().unwrap_or(0),
            per_partition(p)
        );
    }
}

/// The group id written into a config by `input_config`.
fn path_group(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let line = text.lines().find(|l| l.contains("group_id")).unwrap();
    line.split('"').nth(1).unwrap().to_string()
}

#[test]
fn consumer_restarts_lose_nothing_and_resume_from_commits() {
    let b = broker();
    let topic = unique("restart");
    b.create_topic(&topic, 3);
    let group = unique("g");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let path = input_config(dir.path(), &format!("[\"{topic}\"]"), &group, "");
    b.produce(&topic, &records("r", 0..3000));

    // 1. A clean stop in the middle: what was delivered is committed, nothing is read twice.
    let agent = Agent::start(dir.path(), &path);
    wait_for("some records out", T, || !read_docs(&out).is_empty());
    assert_eq!(agent.stop(), Some(0));
    let first = kafka_positions(&out);
    assert!(first.values().all(|(n, _)| *n == 1));
    let committed = b.committed(&group, &topic, 3);
    let sum: i64 = committed.values().sum();
    assert_eq!(
        sum as usize,
        first.len(),
        "committed exactly what was delivered"
    );

    // 2. Restart, then kill -9 while records flow.
    b.produce(&topic, &records("r", 3000..6000));
    let agent = Agent::start(dir.path(), &path);
    wait_for("more records out", T, || {
        read_docs(&out).len() >= first.len() + 500
    });
    agent.kill9();
    let at_kill = b.committed(&group, &topic, 3);

    // 3. Restart: everything arrives; only records past the commits at the kill come twice.
    let agent = Agent::start(dir.path(), &path);
    wait_for("all 6000 records", T, || {
        kafka_positions(&out).len() >= 6000
    });
    assert_eq!(agent.stop(), Some(0));
    let all = kafka_positions(&out);
    let messages: HashSet<&str> = all.values().map(|(_, m)| m.as_str()).collect();
    for i in 0..6000 {
        assert!(
            messages.contains(format!("r record {i}").as_str()),
            "record {i} lost"
        );
    }
    let mut duplicates = 0;
    for ((p, o), (n, _)) in &all {
        if *n > 1 {
            duplicates += n - 1;
            let c = at_kill.get(&(*p as i32)).copied().unwrap_or(0);
            assert!(
                *o >= c,
                "partition {p} offset {o} came twice but was committed (< {c})"
            );
        }
        assert!(*n <= 2, "partition {p} offset {o} came {n} times");
    }
    eprintln!("duplicates after kill -9: {duplicates}");
}

#[test]
fn a_missing_topic_shows_in_readiness() {
    let b = broker();
    let topic = unique("absent");
    let dir = tempfile::tempdir().unwrap();
    let path = input_config(
        dir.path(),
        &format!("[\"{topic}\"]"),
        &unique("g"),
        "api:\n  listen: 127.0.0.1:0\n",
    );
    let agent = Agent::start(dir.path(), &path);
    let mut addr = None;
    wait_for("the API to listen", T, || {
        addr = http_support::logged_address(&agent.logs(), "API listening");
        addr.is_some()
    });
    let url = format!("http://{}/ready", addr.unwrap());
    let ready = || {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", &url])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut body = String::new();
    wait_for("readiness to name the missing topic", T, || {
        body = ready();
        body.contains(&topic)
    });
    assert!(body.ends_with("503"), "{body}");
    assert!(body.contains("does not exist"), "{body}");
    assert!(body.contains("input kin"), "{body}");

    // Once the topic exists the input becomes ready and reads it.
    b.create_topic(&topic, 1);
    b.produce(&topic, &records("late", 0..10));
    wait_for("the input to read the new topic", T, || {
        read_docs(&dir.path().join("out")).len() >= 10
    });
    wait_for("readiness to recover", T, || ready().ends_with("200"));
    assert_eq!(agent.stop(), Some(0));
    let _ = b;
}

#[test]
fn output_parks_records_kafka_refuses_in_the_dlq_and_delivers_the_rest() {
    let b = broker();
    let topic = unique("big");
    b.create_topic(&topic, 1);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_lines(d, 40);
    // Ten records past the producer's size limit: refused for good, parked, never retried.
    let big: String = (0..10)
        .map(|i| format!("oversized id{:06}x {}\n", 100 + i, "x".repeat(30_000)))
        .collect();
    std::fs::write(d.join("logs/big.log"), big).unwrap();
    let cfg = write_config(
        d,
        &format!(
            "type: kafka\ninputs: [app]\nbrokers: [\"{}\"]\ntopic: {topic}\ndlq: dead\nbatch: {{timeout: 100ms}}\nproperties:\n  message.max.bytes: 20000",
            b.addr
        ),
    );
    let agent = Agent::start(d, &cfg);
    wait_logged(&agent, "the oversized records in the dlq", || {
        dlq_lines(&d.join("dlq")).len() >= 10
    });
    let delivered = b.consume_all(&topic, 40);
    assert_eq!(agent.stop(), Some(0));
    let mut got: Vec<usize> = delivered
        .iter()
        .map(|(_, _, _, v)| serde_json::from_str::<serde_json::Value>(v).unwrap())
        .flat_map(|doc| ids(doc["event"]["original"].as_str().unwrap()))
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..40).collect::<Vec<_>>());
    let parked = dlq_lines(&d.join("dlq"));
    let mut parked_ids: Vec<usize> = parked
        .iter()
        .flat_map(|l| ids(l["original"].as_str().unwrap_or_default()))
        .collect();
    parked_ids.sort_unstable();
    assert_eq!(parked_ids, (100..110).collect::<Vec<_>>());
    for l in &parked {
        assert_eq!(l["reason"], "rejected", "{l}");
        assert_eq!(l["attempts"], 1, "{l}");
        assert!(l["error"].as_str().unwrap().contains("Kafka"), "{l}");
    }
}

#[test]
fn output_retries_with_backoff_then_parks_what_no_broker_took() {
    // A port nothing listens on: every attempt times out after message_timeout.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_lines(d, 20);
    let cfg = write_config(
        d,
        &format!(
            "type: kafka\ninputs: [app]\nbrokers: [\"127.0.0.1:{port}\"]\ntopic: t\ndlq: dead\nmessage_timeout: 500ms\nbatch: {{timeout: 100ms}}\nretry:\n  max_retries: 2\n  initial_backoff: 50ms"
        ),
    );
    let agent = Agent::start(d, &cfg);
    wait_logged(&agent, "every record in the dlq", || {
        dlq_lines(&d.join("dlq")).len() == 20
    });
    assert_eq!(agent.stop(), Some(0));
    let parked = dlq_lines(&d.join("dlq"));
    for l in &parked {
        assert_eq!(l["reason"], "retries_exhausted", "{l}");
        assert_eq!(l["attempts"], 3, "{l}");
    }
    let mut got: Vec<usize> = parked
        .iter()
        .flat_map(|l| ids(l["original"].as_str().unwrap_or_default()))
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}
