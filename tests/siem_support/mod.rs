//! Receivers for the SIEM output tests, built on hyper and following the published APIs: Splunk's
//! HTTP Event Collector (`/services/collector/event`, `/services/collector/ack`, token and channel
//! rules, `{"text","code"}` answers, `ackId`, `invalid-event-number`) and Elasticsearch's `_bulk`
//! (NDJSON action/document pairs, per-item `status` and `error`, the `errors` flag). Faults are
//! injected per request: statuses, slow answers, per-item failures.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

/// One answer: status, headers, body, and how long to wait before giving it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Answer {
    pub fn json(status: u16, v: Value) -> Self {
        Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: v.to_string(),
            delay: Duration::ZERO,
        }
    }
}

/// What the receiver got in one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    /// Decoded (gunzipped) body.
    pub body: Vec<u8>,
    pub gzip: bool,
}

type Handler = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

/// A server on a loopback port the OS chose; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    rt: Option<tokio::runtime::Runtime>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// Serves `handler`, over TLS with the given certificate and key files when `tls` is set.
pub fn serve(handler: Handler, tls: Option<(&Path, &Path)>) -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let acceptor = tls.map(|(cert, key)| {
        let cfg = sluice::tls::server_config(&sluice::tls::TlsConfig {
            cert_file: cert.to_path_buf(),
            key_file: key.to_path_buf(),
            client_ca_file: None,
        })
        .unwrap();
        tokio_rustls::TlsAcceptor::from(cfg)
    });
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let handler = Arc::clone(&handler);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let handler = Arc::clone(&handler);
                    async move {
                        let (parts, body) = req.into_parts();
                        let raw = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let headers: HashMap<String, String> = parts
                            .headers
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                            })
                            .collect();
                        let gzip =
                            headers.get("content-encoding").map(String::as_str) == Some("gzip");
                        let body = if gzip {
                            let mut out = Vec::new();
                            flate2::read::GzDecoder::new(&raw[..])
                                .read_to_end(&mut out)
                                .unwrap();
                            out
                        } else {
                            raw.to_vec()
                        };
                        let seen = Seen {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_string(),
                            headers,
                            body,
                            gzip,
                        };
                        let a = handler(&seen);
                        if !a.delay.is_zero() {
                            tokio::time::sleep(a.delay).await;
                        }
                        let mut r = Response::builder().status(a.status);
                        for (k, v) in &a.headers {
                            r = r.header(k, v);
                        }
                        Ok::<_, std::convert::Infallible>(
                            r.body(Full::new(Bytes::from(a.body))).unwrap(),
                        )
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(acc) => {
                        if let Ok(tls) = acc.accept(tcp).await {
                            let _ = conn.serve_connection(TokioIo::new(tls), svc).await;
                        }
                    }
                    None => {
                        let _ = conn.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            });
        }
    });
    Server { addr, rt: Some(rt) }
}

/// A fault for the next request(s) to the data endpoint.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this instead of processing the request.
    Answer(Answer),
    /// Process normally but answer late.
    Slow(Duration),
    /// HEC: refuse the request at this event, as Splunk does for a bad event.
    InvalidEvent(usize),
}

// ---------------------------------------------------------------- Splunk HEC

#[derive(Debug, Default)]
pub struct HecState {
    /// Every event accepted, in order: the whole envelope.
    pub events: Vec<Value>,
    pub faults: VecDeque<Fault>,
    pub requests: usize,
    pub gzip_requests: usize,
    pub ack_polls: usize,
    /// ackId → polls left before it reads true.
    pub pending_acks: HashMap<u64, u32>,
    pub next_ack: u64,
    pub channels: Vec<String>,
    /// Events accepted and their request bytes (decoded), counted even when not kept.
    pub count: usize,
    pub bytes: usize,
    /// Benchmarks: count events without parsing or keeping them.
    pub count_only: bool,
    /// Answer 503 (server busy) until then: an outage.
    pub down_until: Option<std::time::Instant>,
}

pub struct Hec {
    pub server: Server,
    pub state: Arc<Mutex<HecState>>,
}

impl Hec {
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://localhost:{}", self.server.addr.port())
    }

    pub fn fault(&self, f: Fault) {
        self.state.lock().unwrap().faults.push_back(f);
    }

    pub fn events(&self) -> Vec<Value> {
        self.state.lock().unwrap().events.clone()
    }
}

fn hec_reply(status: u16, text: &str, code: u16) -> Answer {
    Answer::json(status, json!({"text": text, "code": code}))
}

/// A HEC endpoint with `token`; with `ack`, indexer acknowledgement is on (channels required) and
/// each ackId reads true only after `ack_polls` queries.
pub fn hec(token: &str, ack: bool, ack_polls: u32, tls: Option<(&Path, &Path)>) -> Hec {
    let state = Arc::new(Mutex::new(HecState::default()));
    let st = Arc::clone(&state);
    let token = token.to_string();
    let handler: Handler = Arc::new(move |req: &Seen| {
        let mut s = st.lock().unwrap();
        // Authorization: Splunk <token>.
        let Some(auth) = req.headers.get("authorization") else {
            return hec_reply(401, "Token is required", 2);
        };
        let Some(given) = auth.strip_prefix("Splunk ") else {
            return hec_reply(401, "Invalid authorization", 3);
        };
        if given != token {
            return hec_reply(403, "Invalid token", 4);
        }
        let channel = req.headers.get("x-splunk-request-channel").cloned();
        match req.path.as_str() {
            "/services/collector/ack" => {
                if !ack {
                    return hec_reply(400, "ACK is disabled", 14);
                }
                if channel.is_none() {
                    return hec_reply(400, "Data channel is missing", 10);
                }
                s.ack_polls += 1;
                let q: Value = match serde_json::from_slice(&req.body) {
                    Ok(v) => v,
                    Err(_) => return hec_reply(400, "Invalid data format", 6),
                };
                let mut acks = serde_json::Map::new();
                for id in q["acks"].as_array().cloned().unwrap_or_default() {
                    let id = id.as_u64().unwrap_or(u64::MAX);
                    let done = match s.pending_acks.get_mut(&id) {
                        Some(0) => true,
                        Some(n) => {
                            *n -= 1;
                            false
                        }
                        None => false,
                    };
                    if done {
                        s.pending_acks.remove(&id);
                    }
                    acks.insert(id.to_string(), Value::Bool(done));
                }
                Answer::json(200, json!({ "acks": acks }))
            }
            "/services/collector/event" | "/services/collector" => {
                s.requests += 1;
                if req.gzip {
                    s.gzip_requests += 1;
                }
                if ack && channel.is_none() {
                    return hec_reply(400, "Data channel is missing", 10);
                }
                if s.down_until.is_some_and(|t| std::time::Instant::now() < t) {
                    return hec_reply(503, "Server is busy", 9);
                }
                let mut slow = Duration::ZERO;
                match s.faults.pop_front() {
                    Some(Fault::Answer(a)) => return a,
                    Some(Fault::Slow(d)) => slow = d,
                    Some(Fault::InvalidEvent(n)) => {
                        return Answer::json(
                            400,
                            json!({"text": "Invalid data format", "code": 6, "invalid-event-number": n}),
                        )
                    }
                    None => {}
                }
                if s.count_only {
                    // Benchmarks measure Sluice, not this parser: count the envelopes only.
                    s.count += req.body.windows(8).filter(|w| w == b"{\"time\":").count();
                    s.bytes += req.body.len();
                    let mut a = hec_reply(200, "Success", 0);
                    if ack {
                        let id = s.next_ack;
                        s.next_ack += 1;
                        s.pending_acks.insert(id, 0);
                        a = Answer::json(200, json!({"text": "Success", "code": 0, "ackId": id}));
                    }
                    return a;
                }
                // Concatenated JSON objects, each with a non-blank `event`.
                let mut batch = Vec::new();
                for (i, v) in serde_json::Deserializer::from_slice(&req.body)
                    .into_iter::<Value>()
                    .enumerate()
                {
                    let Ok(v) = v else {
                        return Answer::json(
                            400,
                            json!({"text": "Invalid data format", "code": 6, "invalid-event-number": i}),
                        );
                    };
                    match v.get("event") {
                        None | Some(Value::Null) => {
                            return Answer::json(
                                400,
                                json!({"text": "Event field is required", "code": 12, "invalid-event-number": i}),
                            )
                        }
                        Some(Value::String(e)) if e.trim().is_empty() => {
                            return Answer::json(
                                400,
                                json!({"text": "Event field cannot be blank", "code": 13, "invalid-event-number": i}),
                            )
                        }
                        _ => {}
                    }
                    batch.push(v);
                }
                if batch.is_empty() {
                    return hec_reply(400, "No data", 5);
                }
                s.count += batch.len();
                s.bytes += req.body.len();
                if !s.count_only {
                    s.events.extend(batch);
                }
                if let Some(c) = &channel {
                    if !s.channels.contains(c) {
                        s.channels.push(c.clone());
                    }
                }
                let mut body = json!({"text": "Success", "code": 0});
                if ack {
                    let id = s.next_ack;
                    s.next_ack += 1;
                    s.pending_acks.insert(id, ack_polls);
                    body["ackId"] = json!(id);
                }
                let mut a = Answer::json(200, body);
                a.delay = slow;
                a
            }
            _ => hec_reply(404, "The requested URL was not found on this server.", 404),
        }
    });
    Hec {
        server: serve(handler, tls),
        state,
    }
}

// ---------------------------------------------------------------- Elasticsearch

#[derive(Debug, Default)]
pub struct EsState {
    /// Documents created, with the target they were created in.
    pub docs: Vec<(String, Value)>,
    pub faults: VecDeque<Fault>,
    pub requests: usize,
    pub gzip_requests: usize,
    /// Per-item faults: a document whose `event.original` contains the key is answered with the status
    /// (and error type) as many times as the count says, then accepted.
    pub item_faults: Vec<(String, u16, &'static str, u32)>,
    pub count: usize,
    pub bytes: usize,
    pub count_only: bool,
    pub down_until: Option<std::time::Instant>,
}

pub struct Es {
    pub server: Server,
    pub state: Arc<Mutex<EsState>>,
}

impl Es {
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://localhost:{}", self.server.addr.port())
    }

    pub fn fault(&self, f: Fault) {
        self.state.lock().unwrap().faults.push_back(f);
    }

    pub fn docs(&self) -> Vec<(String, Value)> {
        self.state.lock().unwrap().docs.clone()
    }
}

fn es_error(status: u16, kind: &str, reason: &str) -> Answer {
    Answer::json(
        status,
        json!({"error": {"root_cause": [{"type": kind, "reason": reason}], "type": kind, "reason": reason}, "status": status}),
    )
}

/// Whether `name` may be a data stream name (Elasticsearch's index name rules).
fn valid_index(name: &str) -> bool {
    !name.is_empty()
        && name == name.to_lowercase()
        && !name.starts_with(['-', '_', '+'])
        && !name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'])
}

/// An Elasticsearch `_bulk` endpoint; `auth` is the exact `Authorization` value it requires.
pub fn elasticsearch(auth: Option<String>, tls: Option<(&Path, &Path)>) -> Es {
    let state = Arc::new(Mutex::new(EsState::default()));
    let st = Arc::clone(&state);
    let handler: Handler = Arc::new(move |req: &Seen| {
        let mut s = st.lock().unwrap();
        if let Some(a) = &auth {
            if req.headers.get("authorization") != Some(a) {
                let mut r = es_error(401, "security_exception", "unable to authenticate user");
                r.headers.push((
                    "www-authenticate".into(),
                    "Basic realm=\"security\", ApiKey".into(),
                ));
                return r;
            }
        }
        if req.path != "/_bulk" || req.method != "POST" {
            return es_error(405, "illegal_argument_exception", "only POST /_bulk here");
        }
        if req.headers.get("content-type").map(String::as_str) != Some("application/x-ndjson") {
            return es_error(
                406,
                "media_type_header_exception",
                "Content-Type must be application/x-ndjson",
            );
        }
        s.requests += 1;
        if req.gzip {
            s.gzip_requests += 1;
        }
        if s.down_until.is_some_and(|t| std::time::Instant::now() < t) {
            return es_error(
                503,
                "cluster_block_exception",
                "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered]",
            );
        }
        let mut slow = Duration::ZERO;
        match s.faults.pop_front() {
            Some(Fault::Answer(a)) => return a,
            Some(Fault::Slow(d)) => slow = d,
            Some(Fault::InvalidEvent(_)) | None => {}
        }
        s.bytes += req.body.len();
        if s.count_only {
            // Benchmarks measure Sluice, not this parser: every document created.
            let n = req.body.iter().filter(|&&b| b == b'\n').count() / 2;
            s.count += n;
            let items: Vec<Value> = (0..n).map(|_| json!({"create": {"status": 201}})).collect();
            return Answer::json(200, json!({"took": 1, "errors": false, "items": items}));
        }
        let text = String::from_utf8_lossy(&req.body).to_string();
        if !text.ends_with('\n') {
            return es_error(
                400,
                "illegal_argument_exception",
                "The bulk request must be terminated by a newline [\\n]",
            );
        }
        let mut lines = text.lines();
        let mut items = Vec::new();
        let mut errors = false;
        while let Some(action) = lines.next() {
            let a: Value = match serde_json::from_str(action) {
                Ok(v) => v,
                Err(e) => return es_error(400, "x_content_parse_exception", &e.to_string()),
            };
            let Some(create) = a.get("create") else {
                return es_error(
                    400,
                    "illegal_argument_exception",
                    "data streams take only `create`",
                );
            };
            let index = create["_index"].as_str().unwrap_or("").to_string();
            let Some(doc) = lines.next() else {
                return es_error(
                    400,
                    "illegal_argument_exception",
                    "action without a document",
                );
            };
            let doc: Value = match serde_json::from_str(doc) {
                Ok(v) => v,
                Err(e) => {
                    errors = true;
                    items.push(json!({"create": {"_index": index, "status": 400, "error": {"type": "document_parsing_exception", "reason": e.to_string()}}}));
                    continue;
                }
            };
            if !valid_index(&index) {
                errors = true;
                items.push(json!({"create": {"_index": index, "status": 400, "error": {"type": "invalid_index_name_exception", "reason": format!("Invalid index name [{index}]")}}}));
                continue;
            }
            if doc.get("@timestamp").is_none() {
                errors = true;
                items.push(json!({"create": {"_index": index, "status": 400, "error": {"type": "document_parsing_exception", "reason": "data stream timestamp field [@timestamp] is missing"}}}));
                continue;
            }
            let msg = doc["event"]["original"].as_str().unwrap_or("").to_string();
            let fault = s
                .item_faults
                .iter_mut()
                .find(|(k, _, _, left)| msg.contains(k.as_str()) && *left > 0);
            if let Some((_, status, kind, left)) = fault {
                *left -= 1;
                errors = true;
                items.push(json!({"create": {"_index": index, "status": *status, "error": {"type": *kind, "reason": format!("injected {kind}")}}}));
                continue;
            }
            let n = s.count;
            s.count += 1;
            if !s.count_only {
                s.docs.push((index.clone(), doc));
            }
            items.push(json!({"create": {"_index": format!(".ds-{index}-000001"), "_id": format!("id{n}"), "_version": 1, "result": "created", "status": 201, "_seq_no": n, "_primary_term": 1}}));
        }
        let mut a = Answer::json(200, json!({"took": 3, "errors": errors, "items": items}));
        a.delay = slow;
        a
    });
    Es {
        server: serve(handler, tls),
        state,
    }
}

/// `sluice_…` value from a Prometheus text page for a metric line starting with `prefix`.
pub fn metric(page: &str, prefix: &str) -> u64 {
    page.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

// ---------------------------------------------------------------- Sluice side

/// Writes `n` lines to `logs/app.log`: even ones syslog from host `web01`, odd ones PAN-OS
/// TRAFFIC; each carries the unique id `id<i:06>x` in its raw text.
pub fn write_lines(dir: &Path, n: usize) {
    use std::io::Write;
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let mut f = std::fs::File::create(dir.join("logs/app.log")).unwrap();
    let mut buf = String::new();
    for i in 0..n {
        if i % 2 == 0 {
            buf.push_str(&format!(
                "<13>Oct 11 22:14:15 web01 app[42]: request id{i:06}x served\n"
            ));
        } else {
            buf.push_str(&format!(
                "1,2024/02/03 10:11:12,012345678901,TRAFFIC,end,2561,2024/02/03 10:11:12,10.0.0.5,198.51.100.7,0.0.0.0,0.0.0.0,allow,,,ssl,vsys1,trust,untrust,e1/2,e1/1,id{i:06}x,2024/02/03 10:11:12,{i},1,51515,443,0,0,0x0,tcp,allow,5000\n"
            ));
        }
    }
    f.write_all(buf.as_bytes()).unwrap();
}

/// The ids `id<i:06>x` found in `text`.
pub fn ids(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(p) = rest.find("id") {
        let tail = &rest[p + 2..];
        if tail.len() >= 7 && tail.as_bytes()[6] == b'x' {
            if let Ok(n) = tail[..6].parse::<usize>() {
                out.push(n);
            }
        }
        rest = tail;
    }
    out
}

/// A configuration: a file input `app` over `logs/`, the API on a free port, `output_yaml` as
/// output `siem` (indented under it), and a dead-letter queue `dead` in `dlq/`.
pub fn write_config(dir: &Path, output_yaml: &str) -> std::path::PathBuf {
    let out: String = output_yaml.lines().map(|l| format!("    {l}\n")).collect();
    let cfg = format!(
        "data_dir: {data}\napi:\n  listen: 127.0.0.1:0\ninputs:\n  app:\n    type: file\n    include: [\"{logs}/*.log\"]\n    read_from: beginning\n    poll_interval: 50ms\noutputs:\n  siem:\n{out}  dead:\n    type: dlq\n    path: {dlq}\nshutdown_timeout: 5s\n",
        data = dir.join("data").display(),
        logs = dir.join("logs").display(),
        dlq = dir.join("dlq").display(),
    );
    let path = dir.join("sluice.yaml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// Every line of the dead-letter queue files in `dir`.
pub fn dlq_lines(dir: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("dlq-") && name.ends_with(".ndjson") {
            for l in std::fs::read_to_string(e.path()).unwrap().lines() {
                out.push(serde_json::from_str(l).unwrap());
            }
        }
    }
    out
}

/// Like `wait_for`, but shows the agent's log when it times out.
pub fn wait_logged(agent: &super::common::Agent, what: &str, cond: impl FnMut() -> bool) {
    wait_logged_for(agent, what, super::http_support::T, cond)
}

pub fn wait_logged_for(
    agent: &super::common::Agent,
    what: &str,
    limit: Duration,
    mut cond: impl FnMut() -> bool,
) {
    let until = std::time::Instant::now() + limit;
    while std::time::Instant::now() < until {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = agent.logs();
    let tail: Vec<&str> = logs.lines().rev().take(40).collect();
    panic!(
        "timed out waiting for {what}; log tail:\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}
