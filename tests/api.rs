//! The HTTP API with the real binary and curl: probes, metrics, /v1/normalize, keys, rate limits,
//! TLS and the OpenAPI document. Every agent listens on a port the OS chooses (`127.0.0.1:0`) and
//! the test reads it from the log, so tests run in parallel.

mod common;
mod http_support;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{read_docs, wait_for, Agent};
use serde_json::Value;

const PANOS: &str = "<14>Mar  5 10:11:12 fw-edge-01 1,2026/03/05 10:11:12,013201001234,TRAFFIC,end,2561,2026/03/05 10:11:12,10.20.30.40,93.184.216.34,203.0.113.10,93.184.216.34,allow-web-outbound,corp\\jdoe,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,log-fwd-siem,2026/03/05 10:11:12,401234,1,52311,443,40123,443,0x400053,tcp,allow,8451,1203,7248,24,2026/03/05 10:10:55,15,computer-and-internet-info,0,7300123456,0x0,10.0.0.0-10.255.255.255,United States,0,12,12,tcp-fin,0,0,0,0,,fw-edge-01,from-policy,,,0,,0,,N/A,0,0,0,0";
const SYSLOG: &str = "<38>Mar  5 10:02:45 bastion-01 sshd[4188]: Failed password for invalid user oracle from 203.0.113.50 port 41822 ssh2";
const CLOUDTRAIL: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","userName":"alice","accountId":"111122223333"},"eventTime":"2026-03-05T10:30:12Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.77","responseElements":{"ConsoleLogin":"Success"},"eventID":"0f1e2d3c-0000-4000-8000-000000000001","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"}"#;

/// A running agent with the API on, and where it listens.
struct Api {
    agent: Agent,
    base: String,
    dir: PathBuf,
    /// Given to every curl call (the CA and address for TLS).
    client: Vec<String>,
}

/// Starts `sluice run` with a file input (`logs/*.log`), a file output (`out/`) and the `api:`
/// section `api_extra` (indented two spaces, under `listen`). With `ca`, the API speaks TLS with a
/// certificate for `localhost` that `ca` signed.
fn start(dir: &Path, api_extra: &str, ca: Option<&Path>) -> Api {
    let cfg = format!(
        r#"data_dir: {data}
api:
  listen: 127.0.0.1:0
{api_extra}
inputs:
  app:
    type: file
    include: ["{logs}/*.log"]
    read_from: beginning
    poll_interval: 50ms
outputs:
  local:
    type: file
    inputs: [app]
    path: "{out}/{{source_type}}.ndjson"
shutdown_timeout: 10s
"#,
        data = dir.join("data").display(),
        logs = dir.join("logs").display(),
        out = dir.join("out").display(),
    );
    start_with(dir, &cfg, ca)
}

fn start_with(dir: &Path, cfg: &str, ca: Option<&Path>) -> Api {
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let path = dir.join("sluice.yaml");
    std::fs::write(&path, cfg).unwrap();
    let agent = Agent::start(dir, &path);
    let mut addr = None;
    wait_for("the API to listen", Duration::from_secs(30), || {
        addr = http_support::logged_address(&agent.logs(), "API listening");
        addr.is_some()
    });
    let addr = addr.unwrap();
    let port = addr.rsplit(':').next().unwrap().to_string();
    // TLS certificates are issued to `localhost`.
    let (base, client) = match ca {
        Some(ca) => (
            format!("https://localhost:{port}"),
            vec![
                "--cacert".to_string(),
                ca.display().to_string(),
                "--resolve".to_string(),
                format!("localhost:{port}:127.0.0.1"),
            ],
        ),
        None => (format!("http://{addr}"), Vec::new()),
    };
    let api = Api {
        agent,
        base,
        dir: dir.to_path_buf(),
        client,
    };
    // The API answers before the pipeline runs (phase "starting"); wait for the topology.
    wait_for("the pipeline to run", Duration::from_secs(30), || {
        api.get("/ready", &[]).json()["phase"] != "starting"
    });
    api
}

/// One HTTP exchange through curl.
struct Reply {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Api {
    /// `curl` with `args` against `path`; the body, if any, comes from `body`.
    fn curl(&self, path: &str, args: &[&str], body: Option<&[u8]>) -> Reply {
        self.try_curl(path, args, body)
            .unwrap_or_else(|e| panic!("curl failed: {e}"))
    }

    /// Like `curl`, but a failed connection is an `Err` with curl's message.
    fn try_curl(&self, path: &str, args: &[&str], body: Option<&[u8]>) -> Result<Reply, String> {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = self.dir.join(format!("reply-{n}.body"));
        let hdr = self.dir.join(format!("reply-{n}.headers"));
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "30", "-o"])
            .arg(&out)
            .arg("-D")
            .arg(&hdr)
            .args(["-w", "%{http_code}"])
            .args(&self.client)
            .args(args);
        if let Some(b) = body {
            let f = self.dir.join(format!("request-{n}.body"));
            std::fs::write(&f, b).unwrap();
            cmd.arg("--data-binary").arg(format!("@{}", f.display()));
        }
        cmd.arg(format!("{}{path}", self.base));
        let o = cmd.output().expect("run curl");
        let code = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let status = code
            .parse()
            .ok()
            .filter(|s| *s != 0)
            .ok_or_else(|| format!("{code} {}", String::from_utf8_lossy(&o.stderr)))?;
        let raw = std::fs::read_to_string(&hdr).unwrap_or_default();
        // The last block: a `100 Continue` may come first.
        let block = raw
            .split("\r\n\r\n")
            .filter(|b| !b.trim().is_empty())
            .last()
            .unwrap_or("");
        let headers = block
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Reply {
            status,
            headers,
            body: std::fs::read(&out).unwrap_or_default(),
        })
    }

    fn get(&self, path: &str, args: &[&str]) -> Reply {
        self.curl(path, args, None)
    }

    fn post_json(&self, body: &Value, args: &[&str]) -> Reply {
        let mut a = vec!["-H", "Content-Type: application/json"];
        a.extend_from_slice(args);
        self.curl("/v1/normalize", &a, Some(body.to_string().as_bytes()))
    }
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn results(r: &Reply) -> Vec<Value> {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["results"].as_array().cloned().expect("results")
}

fn source_type(result: &Value) -> &str {
    result["event"]["sluice"]["source_type"]
        .as_str()
        .unwrap_or_else(|| panic!("no source type in {result}"))
}

#[test]
fn health_and_ready_then_metrics_show_true_counts() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(dir.path(), "", None);
    wait_for("ready", Duration::from_secs(30), || {
        api.get("/ready", &[]).status == 200
    });
    let h = api.get("/health", &[]);
    assert_eq!(h.status, 200);
    assert_eq!(h.json(), serde_json::json!({"status": "ok"}));
    let r = api.get("/ready", &[]).json();
    assert_eq!(r["status"], "ready");
    assert_eq!(r["components"]["input app"], "ready");
    assert_eq!(r["components"]["output local"], "ready");

    let n = 250;
    let mut log = String::new();
    for i in 0..n {
        match i % 3 {
            0 => log.push_str(SYSLOG),
            1 => log.push_str(PANOS),
            _ => log.push_str(&format!("plain line {i}")),
        }
        log.push('\n');
    }
    std::fs::write(dir.path().join("logs/a.log"), &log).unwrap();
    wait_for("every record out", Duration::from_secs(30), || {
        read_docs(&dir.path().join("out")).len() == n
    });
    let m = api.get("/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(
        m.headers["content-type"].starts_with("text/plain; version=0.0.4"),
        "{:?}",
        m.headers
    );
    let text = m.text();
    let samples = parse_exposition(&text);
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
            })
            .map(|(_, _, v)| v)
            .sum()
    };
    let app = [("component", "app"), ("kind", "input")];
    let local = [("component", "local"), ("kind", "output")];
    assert_eq!(
        value("sluice_component_received_records_total", &app),
        n as f64
    );
    // Bytes of the records, without their newlines.
    assert_eq!(
        value("sluice_component_received_bytes_total", &app),
        (log.len() - n) as f64
    );
    assert_eq!(
        value("sluice_component_sent_records_total", &local),
        n as f64
    );
    assert!(value("sluice_component_sent_bytes_total", &local) > log.len() as f64);
    assert_eq!(value("sluice_detected_total", &[]), n as f64);
    assert_eq!(
        value("sluice_detected_total", &[("source_type", "syslog")]),
        84.0
    );
    assert_eq!(
        value("sluice_detected_total", &[("source_type", "panos")]),
        83.0
    );
    assert_eq!(
        value("sluice_dropped_records_total", &[("reason", "queue_full")]),
        0.0
    );
    assert!(value("sluice_batch_processing_seconds_count", &[]) >= 1.0);
    assert!(
        value(
            "sluice_output_write_seconds_count",
            &[("component", "local")]
        ) >= 1.0
    );
    // Every batch the output wrote also has its receive-to-write time.
    assert_eq!(
        value(
            "sluice_end_to_end_latency_seconds_count",
            &[("component", "local")]
        ),
        value(
            "sluice_output_write_seconds_count",
            &[("component", "local")]
        )
    );
    assert!(
        text.contains(
            "sluice_end_to_end_latency_seconds_bucket{component=\"local\",le=\"0.0015\"}"
        ),
        "{text}"
    );
    assert_eq!(
        value("sluice_queue_capacity_batches", &[("component", "local")]),
        8.0
    );
    assert_eq!(value("sluice_output_retries_total", &[]), 0.0);
    assert!(
        value(
            "sluice_api_requests_total",
            &[("route", "/ready"), ("code", "200")]
        ) >= 1.0
    );
    assert!(
        text.contains(
            "sluice_api_request_duration_seconds_bucket{route=\"/health\",le=\"+Inf\"} 1"
        ),
        "{text}"
    );
    assert_eq!(api.agent.stop(), Some(0));
}

/// Checks every line is valid Prometheus text exposition and returns the samples.
fn parse_exposition(text: &str) -> Vec<(String, HashMap<String, String>, f64)> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped = HashSet::new();
    let mut samples = Vec::new();
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    assert!(
        text.ends_with('\n'),
        "the exposition must end with a newline"
    );
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(is_name(name), "bad HELP line: {line}");
            assert!(helped.insert(name.to_string()), "HELP twice for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(is_name(name), "bad TYPE line: {line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE line: {line}"
            );
            assert!(parts.next().is_none(), "bad TYPE line: {line}");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "TYPE twice for {name}"
            );
            continue;
        }
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line: {line:?}"
        );
        let (name_labels, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
        };
        let (name, labels) = match name_labels.split_once('{') {
            Some((n, l)) => (
                n,
                parse_labels(
                    l.strip_suffix('}').unwrap_or_else(|| panic!("{line}")),
                    line,
                ),
            ),
            None => (name_labels, HashMap::new()),
        };
        assert!(is_name(name), "bad metric name in {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        let kind = types
            .get(family)
            .unwrap_or_else(|| panic!("sample before its TYPE line: {line}"));
        if kind == "histogram" && name.ends_with("_bucket") {
            assert!(labels.contains_key("le"), "bucket without le: {line}");
        }
        if kind == "counter" {
            assert!(name.ends_with("_total"), "counter not named _total: {line}");
        }
        assert!(name.starts_with("sluice_"), "unprefixed metric: {line}");
        samples.push((name.to_string(), labels, v));
    }
    samples
}

fn parse_labels(s: &str, line: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "label value not quoted: {line}");
        let mut val = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(c @ ('\\' | '"')) => val.push(c),
                    other => panic!("bad escape {other:?} in {line}"),
                },
                Some('"') => break,
                Some(c) => val.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        }
        out.insert(key, val);
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(c) => panic!("unexpected {c:?} in labels: {line}"),
        }
    }
    out
}

#[test]
fn ready_is_503_with_the_reason_while_an_output_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    // The output's directory is a regular file: every write fails and is retried.
    std::fs::write(dir.path().join("blocker"), "").unwrap();
    let cfg = format!(
        r#"data_dir: {data}
api:
  listen: 127.0.0.1:0
inputs:
  app:
    type: file
    include: ["{logs}/*.log"]
    read_from: beginning
    poll_interval: 50ms
outputs:
  stuck:
    type: file
    inputs: [app]
    path: "{blocker}/out.ndjson"
shutdown_timeout: 2s
"#,
        data = dir.path().join("data").display(),
        logs = dir.path().join("logs").display(),
        blocker = dir.path().join("blocker").display(),
    );
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("logs/a.log"), "one\ntwo\n").unwrap();
    let api = start_with(dir.path(), &cfg, None);
    let mut last = Value::Null;
    wait_for("/ready to say 503", Duration::from_secs(30), || {
        let r = api.get("/ready", &[]);
        last = r.json();
        r.status == 503 && last["components"]["output stuck"] == "failed"
    });
    let reasons = last["reasons"].as_array().unwrap();
    assert!(
        reasons.iter().any(|r| r
            .as_str()
            .unwrap()
            .starts_with("output `stuck`: write failing")),
        "{last}"
    );
    assert_eq!(last["status"], "not_ready");
    assert_eq!(last["phase"], "running");
    assert_eq!(api.get("/health", &[]).status, 200);
    let m = api.get("/metrics", &[]).text();
    assert!(
        parse_exposition(&m)
            .iter()
            .any(|(n, l, v)| n == "sluice_output_retries_total"
                && l["component"] == "stuck"
                && *v >= 1.0),
        "{m}"
    );
    // While SIGTERM drains (the stuck records hold it for shutdown_timeout), /ready says so.
    api.agent.signal("TERM");
    wait_for("/ready to say stopping", Duration::from_secs(10), || {
        api.try_curl("/ready", &[], None)
            .is_ok_and(|r| r.status == 503 && r.json()["phase"] == "stopping")
    });
}

#[test]
fn normalize_json_ndjson_and_gzip_detect_like_the_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(dir.path(), "", None);
    let batch = format!(r#"{{"Records":[{CLOUDTRAIL},{CLOUDTRAIL}]}}"#);
    let body = serde_json::json!({
        "records": [PANOS, SYSLOG, CLOUDTRAIL, "", 42, "just some text", batch,
                    serde_json::from_str::<Value>(CLOUDTRAIL).unwrap()]
    });
    let res = results(&api.post_json(&body, &[]));
    assert_eq!(res.len(), 8);
    assert_eq!(source_type(&res[0]), "panos");
    assert_eq!(res[0]["event"]["event"]["action"], "flow_terminated");
    assert_eq!(res[0]["event"]["source"]["ip"], "10.20.30.40");
    assert_eq!(source_type(&res[1]), "syslog");
    assert_eq!(res[1]["event"]["source"]["ip"], "203.0.113.50");
    assert_eq!(source_type(&res[2]), "cloudtrail");
    assert_eq!(res[2]["event"]["event"]["action"], "ConsoleLogin");
    assert_eq!(res[2]["event"]["sluice"]["input"], "api");
    assert_eq!(
        res[3],
        serde_json::json!({"ok": false, "error": "empty record"})
    );
    assert_eq!(res[4]["ok"], false);
    assert!(res[4]["error"]
        .as_str()
        .unwrap()
        .contains("expected a string"));
    assert_eq!(source_type(&res[5]), "unknown");
    assert_eq!(res[5]["event"]["message"], "just some text");
    let events = res[6]["events"]
        .as_array()
        .expect("a JSON batch gives events");
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e["sluice"]["source_type"] == "cloudtrail"));
    assert_eq!(source_type(&res[7]), "cloudtrail");
    for r in [&res[0], &res[1], &res[2], &res[5], &res[6], &res[7]] {
        assert_eq!(r["ok"], true, "{r}");
    }

    // NDJSON (and text/plain): one record per line, CRLF accepted, a blank line is an error.
    let lines = format!("{PANOS}\r\n{SYSLOG}\n\n{CLOUDTRAIL}\n");
    for ct in ["application/x-ndjson", "text/plain; charset=utf-8"] {
        let r = api.curl(
            "/v1/normalize",
            &["-H", &format!("Content-Type: {ct}")],
            Some(lines.as_bytes()),
        );
        let res = results(&r);
        assert_eq!(res.len(), 4, "{ct}");
        assert_eq!(source_type(&res[0]), "panos");
        assert_eq!(source_type(&res[1]), "syslog");
        assert_eq!(res[2]["ok"], false);
        assert_eq!(source_type(&res[3]), "cloudtrail");
    }

    // gzip, both formats.
    let gz = gzip(body.to_string().as_bytes());
    let r = api.curl(
        "/v1/normalize",
        &[
            "-H",
            "Content-Type: application/json",
            "-H",
            "Content-Encoding: gzip",
        ],
        Some(&gz),
    );
    assert_eq!(results(&r).len(), 8);
    let r = api.curl(
        "/v1/normalize",
        &[
            "-H",
            "Content-Type: application/x-ndjson",
            "-H",
            "Content-Encoding: gzip",
        ],
        Some(&gzip(lines.as_bytes())),
    );
    assert_eq!(source_type(&results(&r)[0]), "panos");

    // A plain body over 64 KiB is normalized off the async workers; same answers, in order.
    let many: Vec<&str> = [PANOS, SYSLOG, CLOUDTRAIL].repeat(200);
    let big = serde_json::json!({ "records": many }).to_string();
    assert!(big.len() > 64 * 1024, "{}", big.len());
    let res = results(&api.post_json(&serde_json::from_str(&big).unwrap(), &[]));
    assert_eq!(res.len(), 600);
    for (i, r) in res.iter().enumerate() {
        let want = ["panos", "syslog", "cloudtrail"][i % 3];
        assert_eq!(source_type(r), want, "record {i}");
    }

    // A bare array, and a forced source type.
    let r = api.curl(
        "/v1/normalize?source_type=syslog",
        &["-H", "Content-Type: application/json"],
        Some(serde_json::json!(["hello"]).to_string().as_bytes()),
    );
    assert_eq!(source_type(&results(&r)[0]), "syslog");

    // A record the syslog parser cannot fully read is ok, tagged as the pipeline tags it.
    let r = api.curl(
        "/v1/normalize?source_type=panos",
        &["-H", "Content-Type: application/json"],
        Some(
            serde_json::json!({"records": ["1,2,3"]})
                .to_string()
                .as_bytes(),
        ),
    );
    let res = results(&r);
    assert_eq!(res[0]["ok"], true);
    assert!(
        res[0]["event"]["tags"]
            .as_array()
            .unwrap()
            .contains(&Value::from("_sluice_parse_failure")),
        "{}",
        res[0]
    );

    // Normalizing sends nothing to outputs.
    std::thread::sleep(Duration::from_millis(300));
    assert!(read_docs(&dir.path().join("out")).is_empty());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn normalize_limits_and_bad_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(
        dir.path(),
        "  normalize:\n    max_records: 5\n    max_body_bytes: 4096",
        None,
    );
    let five = serde_json::json!({"records": ["a", "b", "c", "d", "e"]});
    assert_eq!(results(&api.post_json(&five, &[])).len(), 5);
    let six = serde_json::json!({"records": ["a", "b", "c", "d", "e", "f"]});
    let r = api.post_json(&six, &[]);
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].as_str().unwrap().contains("max_records"));
    let r = api.curl(
        "/v1/normalize",
        &["-H", "Content-Type: text/plain"],
        Some("x\n".repeat(6).as_bytes()),
    );
    assert_eq!(r.status, 413);

    let big = serde_json::json!({"records": ["x".repeat(5000)]});
    let r = api.post_json(&big, &[]);
    assert_eq!(r.status, 413);
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("max_body_bytes"));
    // Chunked, so no Content-Length to refuse early.
    let r = api.curl(
        "/v1/normalize",
        &[
            "-H",
            "Content-Type: text/plain",
            "-H",
            "Transfer-Encoding: chunked",
        ],
        Some("y".repeat(10_000).as_bytes()),
    );
    assert_eq!(r.status, 413);
    // Small compressed, too large once decompressed.
    let bomb = gzip("z".repeat(100_000).as_bytes());
    assert!(bomb.len() < 4096);
    let r = api.curl(
        "/v1/normalize",
        &[
            "-H",
            "Content-Type: text/plain",
            "-H",
            "Content-Encoding: gzip",
        ],
        Some(&bomb),
    );
    assert_eq!(r.status, 413);
    assert!(r.json()["error"].as_str().unwrap().contains("decompressed"));

    for (ct, body, want) in [
        (
            "application/json",
            "{\"records\": [\"a\"",
            "expected a JSON body",
        ),
        ("application/json", "{\"rows\": []}", "unknown field `rows`"),
        ("application/json", "[1, 2", "expected a JSON body"),
    ] {
        let r = api.curl(
            "/v1/normalize",
            &["-H", &format!("Content-Type: {ct}")],
            Some(body.as_bytes()),
        );
        assert_eq!(r.status, 400, "{body}");
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(e.contains(want), "{e}");
    }
    let r = api.curl(
        "/v1/normalize",
        &[
            "-H",
            "Content-Type: application/json",
            "-H",
            "Content-Encoding: gzip",
        ],
        Some(b"not gzip at all"),
    );
    assert_eq!(r.status, 400);
    let r = api.curl("/v1/normalize", &[], Some(b"a=b"));
    assert_eq!(r.status, 415);
    let r = api.curl(
        "/v1/normalize",
        &[
            "-H",
            "Content-Type: text/plain",
            "-H",
            "Content-Encoding: br",
        ],
        Some(b"x"),
    );
    assert_eq!(r.status, 415);
    let r = api.get("/v1/normalize", &[]);
    assert_eq!(r.status, 405);
    let r = api.get("/nope", &[]);
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    // Still serving.
    assert_eq!(results(&api.post_json(&five, &[])).len(), 5);
}

#[test]
fn keys_rate_limits_and_reload_without_secrets_in_logs() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("api-keys");
    std::fs::write(&keys, "# API keys\nfile-key-7f3a9c\n").unwrap();
    let extra = format!(
        "  api_keys: [\"${{TEST_INLINE_KEY:-inline-key-51d2e0}}\"]\n  api_keys_file: {}\n  rate_limit:\n    requests_per_second: 0.01\n    burst: 2",
        keys.display()
    );
    let api = start(dir.path(), &extra, None);
    let one = serde_json::json!({"records": ["hello"]});

    let r = api.post_json(&one, &[]);
    assert_eq!(r.status, 401);
    assert!(r.headers["www-authenticate"].starts_with("Bearer"));
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("missing API key"));
    let r = api.post_json(&one, &["-H", "Authorization: Bearer wrong-key"]);
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "invalid API key");
    assert_eq!(
        api.get("/v1/openapi.json", &["-H", "X-API-Key: inline-key-51d2ef"])
            .status,
        401
    );
    // The probes and metrics stay open.
    assert_eq!(api.get("/health", &[]).status, 200);
    assert_eq!(api.get("/metrics", &[]).status, 200);
    assert_ne!(api.get("/ready", &[]).status, 401);

    let inline = ["-H", "Authorization: Bearer inline-key-51d2e0"];
    let from_file = ["-H", "X-API-Key: file-key-7f3a9c"];
    assert_eq!(api.post_json(&one, &inline).status, 200);
    assert_eq!(
        api.post_json(&one, &["-H", "authorization: bearer inline-key-51d2e0"])
            .status,
        200
    );
    // Burst of 2 used up: the third is refused with a Retry-After.
    let r = api.post_json(&one, &inline);
    assert_eq!(r.status, 429, "{}", r.text());
    let retry: u64 = r.headers["retry-after"].parse().unwrap();
    assert!((1..=100).contains(&retry), "{retry}");
    // Another key has its own bucket.
    assert_eq!(api.post_json(&one, &from_file).status, 200);

    // Rotate the file's key and reload: the old key stops working, the new one works.
    std::fs::write(&keys, "file-key-new-42aa\n").unwrap();
    api.agent.signal("HUP");
    wait_for("the new key", Duration::from_secs(20), || {
        api.post_json(&one, &["-H", "X-API-Key: file-key-new-42aa"])
            .status
            == 200
    });
    assert_eq!(api.post_json(&one, &from_file).status, 401);

    let logs = http_support::strip_ansi(&api.agent.logs());
    for secret in [
        "inline-key-51d2e0",
        "file-key-7f3a9c",
        "file-key-new-42aa",
        "wrong-key",
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
    assert!(logs.contains("api_keys=2"), "{logs}");
}

#[test]
fn metrics_can_require_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(
        dir.path(),
        "  api_keys: [metrics-key-1]\n  metrics_require_key: true",
        None,
    );
    assert_eq!(api.get("/metrics", &[]).status, 401);
    let r = api.get("/metrics", &["-H", "X-API-Key: metrics-key-1"]);
    assert_eq!(r.status, 200);
    parse_exposition(&r.text());
    assert_eq!(api.get("/health", &[]).status, 200);
}

#[test]
fn tls_with_generated_certificates() {
    let dir = tempfile::tempdir().unwrap();
    // Distinct names: a leaf whose subject equals its issuer looks self-signed to curl.
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "Sluice test CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let leaf = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).unwrap();
    let (cert, key, ca_file) = (
        dir.path().join("api.crt"),
        dir.path().join("api.key"),
        dir.path().join("ca.crt"),
    );
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();
    let extra = format!(
        "  tls:\n    cert_file: {}\n    key_file: {}",
        cert.display(),
        key.display()
    );
    let api = start(dir.path(), &extra, Some(&ca_file));
    let port = api.base.rsplit(':').next().unwrap().to_string();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let r = api.get("/health", &[]);
    assert_eq!(r.status, 200);
    let r = api.curl(
        "/v1/normalize",
        &["-H", "Content-Type: text/plain"],
        Some(SYSLOG.as_bytes()),
    );
    assert_eq!(source_type(&results(&r)[0]), "syslog");
    // Without the CA, curl refuses the certificate; plain HTTP gets no answer.
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--resolve", &resolve])
        .arg(format!("https://localhost:{port}/health"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    let o = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("http://127.0.0.1:{port}/health"))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&o.stdout), "200");
    // Still serving after the bad clients.
    assert_eq!(api.get("/health", &[]).status, 200);
}

#[test]
fn openapi_describes_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let api = start(dir.path(), "", None);
    let r = api.get("/v1/openapi.json", &[]);
    assert_eq!(r.status, 200);
    assert!(r.headers["content-type"].starts_with("application/json"));
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.0"), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in sluice::api::ROUTES {
        let op = &paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"))
            [method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(
            op["responses"]["200"].is_object(),
            "{method} {path}: no 200"
        );
        // And the server serves it.
        let m = format!("-X{method}");
        let served = api.curl(
            path,
            &[m.as_str(), "-H", "Content-Type: application/json"],
            None,
        );
        assert_ne!(served.status, 404, "{method} {path}");
        assert_ne!(served.status, 405, "{method} {path}");
    }
    assert_eq!(
        paths.len(),
        sluice::api::ROUTES.len(),
        "undocumented extra paths"
    );
    // Every $ref points at something that exists.
    let text = r.text();
    for part in text
        .split("\"$ref\": \"#/")
        .skip(1)
        .chain(text.split("\"$ref\":\"#/").skip(1))
    {
        let target = part.split('"').next().unwrap();
        let mut node = &doc;
        for seg in target.split('/') {
            node = &node[seg];
        }
        assert!(!node.is_null(), "dangling $ref #/{target}");
    }
    assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
}
