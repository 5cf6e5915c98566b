//! The `http` input end to end: the real binary, `curl` as the client.

mod common;
mod http_support;

use std::time::{Duration, Instant};

use http_support::*;

#[test]
fn ndjson_json_text_and_gzip_bodies_all_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let (agent, addr) = start(
        dir.path(),
        "type: http\nlisten: 127.0.0.1:0\npath: /ingest",
        "",
    );
    let url = format!("http://{addr}/ingest");
    let d = dir.path();

    let ndjson: String = (0..100)
        .map(|i| format!("{{\"n\":{i},\"kind\":\"nd\"}}\n"))
        .collect();
    let f = body_file(d, "nd", ndjson.as_bytes());
    let r = curl(&[
        "-H",
        "Content-Type: application/x-ndjson",
        "--data-binary",
        &format!("@{}", f.display()),
        &url,
    ]);
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"accepted": 100})),
        "{r:?}"
    );

    let array: Vec<String> = (0..50)
        .map(|i| format!("{{ \"n\" : {i},\n \"kind\": \"arr\" }}"))
        .collect();
    let f = body_file(d, "arr", format!("[{}]", array.join(",\n")).as_bytes());
    let r = curl(&[
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", f.display()),
        &url,
    ]);
    assert_eq!(r.json()["accepted"], 50, "{r:?}");

    let r = curl(&[
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "{\"single\": true}",
        &url,
    ]);
    assert_eq!(r.json()["accepted"], 1, "{r:?}");

    let text: String = (0..30).map(|i| format!("plain line {i}\r\n")).collect();
    let f = body_file(d, "txt", format!("{text}\n\n").as_bytes());
    let r = curl(&[
        "-H",
        "Content-Type: text/plain",
        "--data-binary",
        &format!("@{}", f.display()),
        &url,
    ]);
    assert_eq!(r.json()["accepted"], 30, "{r:?}");

    let zipped: String = (0..20).map(|i| format!("gzipped line {i}\n")).collect();
    let f = body_file(d, "gz", &gzip(zipped.as_bytes()));
    let r = curl(&[
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        &format!("@{}", f.display()),
        &url,
    ]);
    assert_eq!(r.json()["accepted"], 20, "{r:?}");

    let docs = wait_docs(&d.join("out"), 201);
    assert_eq!(docs.len(), 201, "every record once");
    let originals: Vec<&str> = docs
        .iter()
        .filter_map(|d| d["event"]["original"].as_str())
        .collect();
    assert!(
        originals.contains(&r#"{"n":7,"kind":"arr"}"#),
        "array elements are compact JSON"
    );
    assert!(originals.contains(&"plain line 29"), "no carriage return");
    assert!(originals.contains(&"gzipped line 19"));
    assert!(docs.iter().all(|d| d["log"]["source"]["address"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:"))));
    assert!(docs.iter().all(|d| d["sluice"]["input"] == "web"));
    // Anything but the configured path is not ours.
    assert_eq!(
        curl(&["--data-binary", "x", &format!("http://{addr}/other")]).status,
        404
    );
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn credentials_and_limits_are_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("keys"), "# API keys\nkey-one\nkey-two\n").unwrap();
    std::fs::write(d.join("token"), "tok-3n\n").unwrap();
    let cfg = format!(
        "type: http\nlisten: 127.0.0.1:0\ntoken_file: {}\napi_keys_file: {}\nmax_body_bytes: 1000",
        d.join("token").display(),
        d.join("keys").display()
    );
    let (agent, addr) = start(d, &cfg, "");
    let url = format!("http://{addr}/");

    let r = curl(&["--data-binary", "no credentials", &url]);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r
        .headers
        .to_ascii_lowercase()
        .contains("www-authenticate: bearer"));
    assert_eq!(
        curl(&[
            "-H",
            "Authorization: Bearer wrong",
            "--data-binary",
            "x",
            &url
        ])
        .status,
        401
    );
    assert_eq!(
        curl(&["-H", "X-API-Key: wrong", "--data-binary", "x", &url]).status,
        401
    );
    let ok = curl(&[
        "-H",
        "Authorization: Bearer tok-3n",
        "--data-binary",
        "by token",
        &url,
    ]);
    assert_eq!(ok.status, 200, "{ok:?}");
    let ok = curl(&["-H", "X-API-Key: key-two", "--data-binary", "by key", &url]);
    assert_eq!(ok.status, 200, "{ok:?}");

    let auth = ["-H", "X-API-Key: key-one"];
    let big = body_file(d, "big", &vec![b'a'; 1001]);
    let r = curl(&[
        auth[0],
        auth[1],
        "--data-binary",
        &format!("@{}", big.display()),
        &url,
    ]);
    assert_eq!(r.status, 413, "{r:?}");
    // Small on the wire, too large once decompressed.
    let bomb = body_file(d, "bomb", &gzip(&vec![b'a'; 5000]));
    let r = curl(&[
        auth[0],
        auth[1],
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        &format!("@{}", bomb.display()),
        &url,
    ]);
    assert_eq!(r.status, 413, "{r:?}");
    let r = curl(&[
        auth[0],
        auth[1],
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        "not gzip",
        &url,
    ]);
    assert_eq!(r.status, 400, "{r:?}");
    let r = curl(&[
        auth[0],
        auth[1],
        "-H",
        "Content-Encoding: br",
        "--data-binary",
        "x",
        &url,
    ]);
    assert_eq!(r.status, 415, "{r:?}");
    let r = curl(&[
        auth[0],
        auth[1],
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        "[1, 2",
        &url,
    ]);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.json()["error"].as_str().unwrap().contains("JSON"));

    let docs = wait_docs(&d.join("out"), 2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        common::read_docs(&d.join("out")).len(),
        2,
        "only the accepted requests: {docs:?}"
    );
    let logs = agent.logs();
    assert!(
        !logs.contains("tok-3n") && !logs.contains("key-two"),
        "secrets never logged"
    );
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn delivered_acks_answer_after_the_output_wrote_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (agent, addr) = start(
        d,
        "type: http\nlisten: 127.0.0.1:0\nack: delivered\ntimeout: 10s",
        "",
    );
    let url = format!("http://{addr}/");
    for round in 0..3 {
        let body: String = (0..10)
            .map(|i| format!("round {round} line {i}\n"))
            .collect();
        let r = curl(&["--data-binary", &body, &url]);
        assert_eq!(
            (r.status, r.json()["accepted"].as_u64()),
            (200, Some(10)),
            "{r:?}"
        );
        // No waiting: a 200 means the output already has them.
        let docs = common::read_docs(&d.join("out"));
        assert_eq!(docs.len(), 10 * (round + 1), "round {round}");
    }
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn a_blocked_output_times_out_delivered_acks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    block_output(&d.join("out"));
    let (agent, addr) = start(
        d,
        "type: http\nlisten: 127.0.0.1:0\nack: delivered\ntimeout: 1s",
        "",
    );
    let started = Instant::now();
    let r = curl(&["--data-binary", "never written", &format!("http://{addr}/")]);
    assert_eq!(r.status, 504, "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    agent.kill9();
}

#[test]
fn a_full_pipeline_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    block_output(&d.join("out"));
    let extra = "pipeline:\n  threads: 1\n  queue_batches: 1\n";
    let (agent, addr) = start(d, "type: http\nlisten: 127.0.0.1:0", extra);
    let url = format!("http://{addr}/");
    // Each request is a batch: the output, its queue, the processor and the pipeline queue each
    // hold one, then there is no room.
    let mut statuses = Vec::new();
    for i in 0..30 {
        let r = curl(&["--data-binary", &format!("request {i}"), &url]);
        statuses.push(r.status);
        if r.status == 429 {
            assert!(
                r.headers.to_ascii_lowercase().contains("retry-after: 1"),
                "{r:?}"
            );
            assert_eq!(r.json()["accepted"], 0);
            break;
        }
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    agent.kill9();
}

#[test]
fn tls_with_generated_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca, cert, key) = certificates(d);
    let cfg = format!(
        "type: http\nlisten: 127.0.0.1:0\ntoken: over-tls\ntls:\n  cert_file: {}\n  key_file: {}",
        cert.display(),
        key.display()
    );
    let (agent, addr) = start(d, &cfg, "");
    let port = addr.rsplit_once(':').unwrap().1;
    let url = format!("https://localhost:{port}/");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let r = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &resolve,
        "-H",
        "Authorization: Bearer over-tls",
        "--data-binary",
        "over tls",
        &url,
    ]);
    assert_eq!(
        (r.status, r.json()["accepted"].as_u64()),
        (200, Some(1)),
        "{r:?}"
    );
    // Without trusting the CA, or in plain text, nothing gets in.
    let r = curl(&["--resolve", &resolve, "--data-binary", "x", &url]);
    assert_eq!(r.status, 0);
    let r = curl(&["--data-binary", "x", &format!("http://{addr}/")]);
    assert_ne!(r.status, 200);
    let docs = wait_docs(&d.join("out"), 1);
    assert_eq!(docs[0]["message"], "over tls");
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn a_reload_rebinds_the_same_port_with_new_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();
    let input = |token: &str| format!("type: http\nlisten: 127.0.0.1:{port}\ntoken: {token}");
    let (agent, addr) = start(d, &input("first"), "");
    let url = format!("http://{addr}/");
    let send = |token: &str| {
        curl(&[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--data-binary",
            token,
            &url,
        ])
        .status
    };
    assert_eq!(send("first"), 200);
    write_config(d, &input("second"), "");
    agent.signal("HUP");
    common::wait_for("the reload", T, || {
        agent.logs().contains("configuration reloaded")
    });
    assert_eq!(send("second"), 200);
    assert_eq!(send("first"), 401);
    wait_docs(&d.join("out"), 2);
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn validate_reports_bad_http_and_hec_settings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let yaml = format!(
        "inputs:\n  web:\n    type: http\n    listen: nowhere\n    path: /{{id}}\n    token: a\n    token_file: {tf}\n  hec:\n    type: splunk_hec\n    listen: 127.0.0.1:8088\n    tokens_file: {missing}\n    tls:\n      cert_file: {missing}\n      key_file: {missing}\noutputs:\n  o:\n    type: stdout\n    inputs: [web, hec]\n",
        tf = d.join("token").display(),
        missing = d.join("missing.pem").display(),
    );
    std::fs::write(d.join("token"), "t\n").unwrap();
    let path = d.join("bad.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["validate", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for key in [
        "inputs.web.listen: expected `host:port`",
        "inputs.web.path: expected a literal URL path",
        "inputs.web.token: token: set the value or the file, not both",
        "inputs.hec.token:",
        "inputs.hec.tls:",
    ] {
        assert!(err.contains(key), "missing `{key}` in:\n{err}");
    }
}

#[test]
fn metrics_count_requests_records_and_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let extra = "api:\n  listen: 127.0.0.1:0\n";
    let (agent, addr) = start(d, "type: http\nlisten: 127.0.0.1:0\ntoken: m", extra);
    let url = format!("http://{addr}/");
    let body: String = (0..7).map(|i| format!("metric line {i}\n")).collect();
    for _ in 0..3 {
        let r = curl(&[
            "-H",
            "Authorization: Bearer m",
            "--data-binary",
            &body,
            &url,
        ]);
        assert_eq!(r.status, 200);
    }
    assert_eq!(curl(&["--data-binary", "x", &url]).status, 401);
    wait_docs(&d.join("out"), 21);
    let mut api = None;
    common::wait_for("the API", T, || {
        api = logged_address(&agent.logs(), "API listening");
        api.is_some()
    });
    let metrics = curl(&[&format!("http://{}/metrics", api.unwrap_or_default())]).body;
    for line in [
        "sluice_http_input_requests_total{component=\"web\",status=\"200\"} 3",
        "sluice_http_input_requests_total{component=\"web\",status=\"401\"} 1",
        "sluice_http_input_rejected_total{component=\"web\",reason=\"missing_credentials\"} 1",
        &format!(
            "sluice_http_input_request_bytes_total{{component=\"web\"}} {}",
            3 * body.len()
        ),
        "sluice_component_received_records_total{component=\"web\",kind=\"input\"} 21",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in:\n{metrics}");
    }
    assert_eq!(agent.stop(), Some(0));
}

#[test]
fn connections_beyond_max_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (agent, addr) = start(d, "type: http\nlisten: 127.0.0.1:0\nmax_connections: 2", "");
    let url = format!("http://{addr}/");
    let idle: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    // Let the server accept both before the third arrives.
    std::thread::sleep(Duration::from_millis(200));
    let r = curl(&["--data-binary", "refused", &url]);
    assert_eq!(r.status, 0, "{r:?}");
    drop(idle);
    common::wait_for("a free connection slot", T, || {
        curl(&["--data-binary", "accepted", &url]).status == 200
    });
    let docs = wait_docs(&d.join("out"), 1);
    assert!(docs.iter().all(|d| d["message"] == "accepted"));
    assert_eq!(agent.stop(), Some(0));
}
