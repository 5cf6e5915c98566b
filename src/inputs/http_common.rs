//! What the `http` and `splunk_hec` inputs share: the listener and its accept loop (plain or TLS),
//! request bodies (size limits, gzip), credentials, handing records to the pipeline without
//! blocking the runtime, per-request acknowledgements, and metrics.
//!
//! The accept loop is our own (hyper's HTTP/1 connection builder) rather than `axum::serve`, for
//! three reasons: a header read timeout against slow clients, a connection limit, and connection
//! tasks that end with the input. A lingering connection would keep a `BatchSender` alive, and the
//! processors only exit when every sender is gone.

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::InputError;
use crate::config::Secret;
use crate::event::{Origin, RawBatch};
use crate::metrics::{Counter, Metrics};
use crate::pipeline::ack::{AckRef, AckSink};
use crate::pipeline::BatchSender;

/// A client must send its request headers within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// And its body within this one.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request waits for room in a full pipeline before it is answered "busy".
pub const BUSY_WAIT: Duration = Duration::from_secs(1);
/// How long each further batch of a partly queued request may wait for room.
const PARTIAL_WAIT: Duration = Duration::from_secs(5);
/// What `Retry-After` says when the pipeline is full or the input is stopping, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;
/// Bodies larger than this are decompressed and parsed on the blocking pool, not on a runtime
/// worker, so one big request cannot stall every other connection.
const OFFLOAD_BYTES: usize = 256 * 1024;

/// Why a listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on `{listen}`: {source}")]
    Bind {
        listen: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

impl From<ListenError> for InputError {
    fn from(e: ListenError) -> Self {
        match e {
            ListenError::Bind { .. } => InputError::Io(e.to_string()),
            ListenError::Tls(_) => InputError::Config(e.to_string()),
        }
    }
}

/// A bound listening socket, with TLS when configured.
pub struct Listener {
    tcp: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    pub local: SocketAddr,
}

impl Listener {
    /// Binds now, so that a port in use or a bad certificate fails the input's start (and so a
    /// reload) instead of surfacing later in a background task.
    pub fn bind(listen: &str, tls: Option<&crate::tls::TlsConfig>) -> Result<Self, ListenError> {
        let bind_err = |source| ListenError::Bind {
            listen: listen.to_string(),
            source,
        };
        let tls = tls
            .map(crate::tls::server_config)
            .transpose()?
            .map(TlsAcceptor::from);
        let std = std::net::TcpListener::bind(listen).map_err(bind_err)?;
        std.set_nonblocking(true).map_err(bind_err)?;
        let tcp = tokio::net::TcpListener::from_std(std).map_err(bind_err)?;
        let local = tcp.local_addr().map_err(bind_err)?;
        Ok(Listener { tcp, tls, local })
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// Problems with a `listen` value, for `sluice validate`: `host:port`, the host a name or address.
pub fn listen_problem(listen: &str) -> Option<String> {
    if listen.parse::<SocketAddr>().is_ok() {
        return None;
    }
    match listen.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => None,
        _ => Some(format!(
            "expected `host:port` such as `0.0.0.0:8080`, found `{listen}`"
        )),
    }
}

/// Anything a connection can be served over: TCP or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Serves `router` until the input's `stop`, then lets in-flight requests finish (their records
/// are delivered while the pipeline drains), or cuts them at `abort`. Each request sees its peer as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: Listener,
    router: Router,
    max_connections: usize,
    metrics: Arc<HttpMetrics>,
    ctx: &super::InputContext,
) {
    let (stop, abort, health) = (&ctx.stop, &ctx.abort, &ctx.health);
    let Listener { tcp, tls, .. } = listener;
    let mut conns = JoinSet::new();
    let (closing_tx, closing_rx) = watch::channel(false);
    loop {
        while conns.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            r = tcp.accept() => match r {
                Ok(c) => {
                    health.ready();
                    c
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning, and
                    // show it in `/ready` until a connection is accepted again.
                    tracing::warn!(error = %e, "accept failed");
                    health.failed(format!("cannot accept connections: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        if conns.len() >= max_connections {
            metrics.reject("max_connections");
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        conns.spawn(connection(
            stream,
            peer,
            tls.clone(),
            router.clone(),
            Arc::clone(&metrics),
            closing_rx.clone(),
        ));
    }
    drop(tcp);
    let _ = closing_tx.send(true);
    tokio::select! {
        _ = async { while conns.join_next().await.is_some() {} } => {}
        _ = abort.cancelled() => conns.abort_all(),
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    router: Router,
    metrics: Arc<HttpMetrics>,
    mut closing: watch::Receiver<bool>,
) {
    let io: Box<dyn Io> = match tls {
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(s)) => Box::new(s),
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    metrics.reject("tls_handshake");
                    return;
                }
                Err(_) => {
                    metrics.reject("tls_handshake");
                    return;
                }
            }
        }
        None => Box::new(stream),
    };
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        let metrics = Arc::clone(&metrics);
        async move {
            let resp = tower::ServiceExt::oneshot(router, req).await;
            if let Ok(r) = &resp {
                metrics.status(r.status());
            }
            resp
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = closing.wait_for(|c| *c) => conn.as_mut().graceful_shutdown(),
    }
    // Stopping: the request in progress is answered, then the connection closes.
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// The pipeline's entry, shared with request handlers and cleared when the input ends so that no
/// straggling task keeps the processors alive.
#[derive(Debug, Default)]
pub struct SenderSlot(RwLock<Option<BatchSender>>);

impl SenderSlot {
    pub fn new(sender: BatchSender) -> Self {
        SenderSlot(RwLock::new(Some(sender)))
    }

    pub fn get(&self) -> Option<BatchSender> {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub fn clear(&self) {
        match self.0.write() {
            Ok(mut g) => *g = None,
            Err(p) => *p.into_inner() = None,
        }
    }
}

/// A set of accepted secrets. Checking compares against every one, so the time taken does not
/// tell which (or whether a prefix) matched.
#[derive(Debug, Clone, Default)]
pub struct Credentials(Vec<Secret>);

impl Credentials {
    /// From inline values and secret files: `single`/`single_file` hold one secret, `list_file`
    /// one per line.
    pub fn load(
        single: Option<&Secret>,
        single_file: Option<&Path>,
        list: &[Secret],
        list_file: Option<&Path>,
        key: &str,
    ) -> Result<Self, String> {
        let mut all: Vec<Secret> = list.to_vec();
        all.extend(Secret::resolve(single, single_file, key)?);
        if let Some(f) = list_file {
            let keys = Secret::list_from_file(f)?;
            if keys.is_empty() {
                return Err(format!("{}: the file holds no secret", f.display()));
            }
            all.extend(keys);
        }
        Ok(Credentials(all))
    }

    /// No credential configured: the endpoint is open.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn accepts(&self, candidate: &[u8]) -> bool {
        let mut ok = false;
        for s in &self.0 {
            ok |= s.matches(candidate);
        }
        ok
    }
}

/// Why a request body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the body did not arrive within {}s", BODY_TIMEOUT.as_secs())]
    Timeout,
    #[error("cannot read the body: {0}")]
    Read(String),
    #[error("unsupported Content-Encoding `{0}`; use gzip or none")]
    UnsupportedEncoding(String),
    #[error("the body is not valid gzip: {0}")]
    BadGzip(String),
}

/// Reads the whole body, refusing more than `max` bytes on the wire.
pub async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    use http_body_util::BodyExt;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    // Trust the declared length only so far: a client that announces 10 MiB and sends nothing
    // must not make every connection hold 10 MiB.
    let capacity = declared.map_or(8 * 1024, |n| (n as usize).min(256 * 1024));
    let read = async move {
        let mut body = body;
        let mut buf = Vec::with_capacity(capacity);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > max {
                    return Err(BodyError::TooLarge(max));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf)
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

/// The `Content-Encoding` of a request, when the body must be decoded.
pub fn content_encoding(headers: &HeaderMap) -> Result<bool, BodyError> {
    let Some(v) = headers.get(axum::http::header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let v = String::from_utf8_lossy(v.as_bytes())
        .trim()
        .to_ascii_lowercase();
    match v.as_str() {
        "" | "identity" => Ok(false),
        "gzip" | "x-gzip" => Ok(true),
        _ => Err(BodyError::UnsupportedEncoding(v)),
    }
}

/// Decompresses a gzip body (several members are read as one stream), refusing more than `max`
/// bytes of output so that a small bomb cannot fill memory.
pub fn gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(max));
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(max as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| BodyError::BadGzip(e.to_string()))?;
    if out.len() > max {
        return Err(BodyError::TooLarge(max));
    }
    Ok(out)
}

/// Runs CPU work on the blocking pool when the input is large, inline otherwise.
pub async fn offload<T: Send + 'static>(
    size: usize,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    if size < OFFLOAD_BYTES {
        return Some(work());
    }
    tokio::task::spawn_blocking(work).await.ok()
}

/// Records cut from a request, in one buffer.
#[derive(Debug, Default)]
pub struct Records {
    pub buf: Vec<u8>,
    pub ranges: Vec<Range<usize>>,
    /// Metadata per record, by index; empty when no record has any.
    pub metas: Vec<Option<Box<crate::event::RecordMeta>>>,
}

impl Records {
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Copies one record in.
    pub fn push(&mut self, bytes: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.ranges.push(start..self.buf.len());
    }

    /// Attaches metadata to the record pushed last.
    pub fn set_last_meta(&mut self, meta: crate::event::RecordMeta) {
        if meta.is_empty() || self.ranges.is_empty() {
            return;
        }
        self.metas.resize_with(self.ranges.len(), || None);
        if let Some(last) = self.metas.last_mut() {
            *last = Some(Box::new(meta));
        }
    }

    /// Every non-blank line of `body` (a `\r` before the newline is dropped), without copying.
    pub fn lines(body: Vec<u8>) -> Self {
        let mut ranges = Vec::new();
        let mut start = 0;
        let end = body.len();
        while start < end {
            let nl = memchr::memchr(b'\n', &body[start..]).map_or(end, |i| start + i);
            let mut stop = nl;
            if stop > start && body[stop - 1] == b'\r' {
                stop -= 1;
            }
            if body[start..stop].iter().any(|b| !b.is_ascii_whitespace()) {
                ranges.push(start..stop);
            }
            start = nl + 1;
        }
        Records {
            buf: body,
            ranges,
            metas: Vec::new(),
        }
    }

    /// Cuts the records into batches of at most `batch_size`, each with its acknowledgement.
    pub fn into_batches(
        self,
        origin: &Arc<Origin>,
        batch_size: usize,
        mut ack: impl FnMut(u64) -> AckRef,
    ) -> Vec<RawBatch> {
        let batch_size = batch_size.max(1);
        let mut metas = self.metas.into_iter();
        if self.ranges.len() <= batch_size {
            let mut b = RawBatch::new(Arc::clone(origin), ack(0));
            b.records = self
                .ranges
                .into_iter()
                .map(|range| crate::event::RawRecord {
                    range,
                    offset: None,
                    truncated: false,
                    meta: metas.next().flatten(),
                })
                .collect();
            b.buf = self.buf;
            return vec![b];
        }
        self.ranges
            .chunks(batch_size)
            .enumerate()
            .map(|(i, chunk)| {
                let mut b = RawBatch::new(Arc::clone(origin), ack(i as u64));
                for r in chunk {
                    b.push(self.buf.get(r.clone()).unwrap_or(&[]), None, false);
                    if let (Some(rec), Some(meta)) = (b.records.last_mut(), metas.next()) {
                        rec.meta = meta;
                    }
                }
                b
            })
            .collect()
    }
}

/// The number of batches `n` records make.
pub fn batch_count(n: usize, batch_size: usize) -> usize {
    n.div_ceil(batch_size.max(1)).max(1)
}

/// Appends `json` (valid JSON text) without the whitespace between tokens: one line, same key
/// order and number spelling as sent, which re-serializing through `Value` would not keep.
pub fn minify_json(json: &str, out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
}

/// Appends a JSON value as a record: a string's text as it is (so detection sees a syslog line,
/// not a quoted one), anything else as compact JSON.
pub fn push_json_value(raw: &serde_json::value::RawValue, records: &mut Records) {
    let text = raw.get();
    if text.starts_with('"') {
        if let Ok(s) = serde_json::from_str::<std::borrow::Cow<'_, str>>(text) {
            records.push(s.as_bytes());
            return;
        }
    }
    let start = records.buf.len();
    minify_json(text, &mut records.buf);
    records.ranges.push(start..records.buf.len());
}

/// Why records could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueue {
    /// The pipeline stayed full for `BUSY_WAIT`; `sent` batches went in before.
    Busy { sent: usize },
    /// The input is stopping or the pipeline is gone.
    Stopping { sent: usize },
}

/// Queues batches without blocking a runtime thread: a full queue is polled for up to
/// `BUSY_WAIT`, then the request is answered busy. Once part of a request is in, the rest may
/// wait longer (`PARTIAL_WAIT` per batch), since giving up then means the client's retry
/// duplicates that part. Batches not sent are dropped, which fails their acknowledgement.
pub async fn enqueue(
    sender: &BatchSender,
    batches: Vec<RawBatch>,
    stop: &CancellationToken,
) -> Result<(), Enqueue> {
    use crossbeam_channel::TrySendError;
    for (sent, batch) in batches.into_iter().enumerate() {
        let deadline = Instant::now() + if sent == 0 { BUSY_WAIT } else { PARTIAL_WAIT };
        let mut pause = Duration::from_millis(1);
        let mut batch = batch;
        loop {
            match sender.try_send(batch) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return Err(Enqueue::Stopping { sent }),
                Err(TrySendError::Full(b)) => {
                    if stop.is_cancelled() {
                        return Err(Enqueue::Stopping { sent });
                    }
                    if Instant::now() >= deadline {
                        return Err(Enqueue::Busy { sent });
                    }
                    batch = b;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
            }
        }
    }
    Ok(())
}

/// The acknowledgement of one request's batches: `done` runs once, when every batch has its
/// fate, with `true` only if every output accepted every batch.
pub struct RequestAck {
    remaining: AtomicUsize,
    failed: AtomicBool,
    done: Mutex<Option<OnDone>>,
}

/// What runs when a request's fate is known.
type OnDone = Box<dyn FnOnce(bool) + Send>;

impl std::fmt::Debug for RequestAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestAck")
            .field("remaining", &self.remaining.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RequestAck {
    pub fn new(batches: usize, done: impl FnOnce(bool) + Send + 'static) -> Arc<Self> {
        Arc::new(RequestAck {
            remaining: AtomicUsize::new(batches),
            failed: AtomicBool::new(false),
            done: Mutex::new(Some(Box::new(done))),
        })
    }

    /// A request whose handler waits for the outcome.
    pub fn waiter(batches: usize) -> (Arc<Self>, oneshot::Receiver<bool>) {
        let (tx, rx) = oneshot::channel();
        let ack = RequestAck::new(batches, move |ok| {
            let _ = tx.send(ok);
        });
        (ack, rx)
    }

    pub fn ack_ref(self: &Arc<Self>, seq: u64) -> AckRef {
        AckRef::new(seq, Arc::clone(self) as Arc<dyn AckSink>)
    }
}

impl AckSink for RequestAck {
    fn complete(&self, _seq: u64, delivered: bool) {
        if !delivered {
            self.failed.store(true, Ordering::Release);
        }
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            let done = match self.done.lock() {
                Ok(mut g) => g.take(),
                Err(p) => p.into_inner().take(),
            };
            if let Some(f) = done {
                f(!self.failed.load(Ordering::Acquire));
            }
        }
    }
}

/// Request counters of one input. Handles are cached: registering takes the registry's lock.
#[derive(Debug)]
pub struct HttpMetrics {
    registry: Metrics,
    input: Arc<str>,
    statuses: Mutex<HashMap<u16, Counter>>,
    rejections: Mutex<HashMap<&'static str, Counter>>,
    pub request_bytes: Counter,
}

impl HttpMetrics {
    pub fn new(registry: &Metrics, input: &Arc<str>) -> Arc<Self> {
        Arc::new(HttpMetrics {
            request_bytes: registry.counter(
                "sluice_http_input_request_bytes_total",
                "Request body bytes received by an HTTP or HEC input, before decompression",
                &[("component", input)],
            ),
            registry: registry.clone(),
            input: Arc::clone(input),
            statuses: Mutex::new(HashMap::new()),
            rejections: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a response by its HTTP status.
    pub fn status(&self, status: StatusCode) {
        let mut m = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(status.as_u16())
            .or_insert_with(|| {
                self.registry.counter(
                    "sluice_http_input_requests_total",
                    "Requests answered by an HTTP or HEC input, by status",
                    &[("component", &self.input), ("status", status.as_str())],
                )
            })
            .inc();
    }

    /// Counts a refused request or connection by why.
    pub fn reject(&self, reason: &'static str) {
        let mut m = self.rejections.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(reason)
            .or_insert_with(|| {
                self.registry.counter(
                    "sluice_http_input_rejected_total",
                    "Requests or connections refused by an HTTP or HEC input, by reason",
                    &[("component", &self.input), ("reason", reason)],
                )
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minify_keeps_strings_and_order() {
        let mut out = Vec::new();
        minify_json("{ \"b\" : [1, 2.50],\n \"a\": \"x  y\\\" }\" }", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"b\":[1,2.50],\"a\":\"x  y\\\" }\"}"
        );
    }

    #[test]
    fn lines_skip_blanks_and_carriage_returns() {
        let r = Records::lines(b"a\r\n\n  \nb\nc".to_vec());
        let got: Vec<&[u8]> = r.ranges.iter().map(|x| &r.buf[x.clone()]).collect();
        assert_eq!(got, vec![&b"a"[..], b"b", b"c"]);
    }

    #[test]
    fn batches_split_at_the_batch_size() {
        let mut r = Records::default();
        for i in 0..5 {
            r.push(format!("r{i}").as_bytes());
        }
        let origin = Arc::new(Origin::input(Arc::from("t")));
        let batches = r.into_batches(&origin, 2, |_| AckRef::none());
        assert_eq!(
            batches.iter().map(RawBatch::len).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        assert_eq!(batches[2].raw(&batches[2].records[0]), b"r4");
        assert_eq!(batch_count(5, 2), 3);
    }

    #[test]
    fn gzip_is_bounded() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 10_000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 10_000).unwrap().len(), 10_000);
        assert!(matches!(gunzip(&gz, 9_999), Err(BodyError::TooLarge(_))));
        assert!(matches!(gunzip(b"nope", 10), Err(BodyError::BadGzip(_))));
    }

    #[test]
    fn request_ack_reports_once_and_fails_on_any_failure() {
        let (ack, mut rx) = RequestAck::waiter(2);
        ack.ack_ref(0).ack();
        assert!(rx.try_recv().is_err());
        drop(ack.ack_ref(1));
        assert_eq!(rx.try_recv(), Ok(false));
    }

    #[test]
    fn credentials_accept_any_configured_secret() {
        let c = Credentials::load(
            Some(&Secret::new("one")),
            None,
            &[Secret::new("two")],
            None,
            "k",
        )
        .unwrap();
        assert!(c.accepts(b"one") && c.accepts(b"two") && !c.accepts(b"three"));
        assert!(Credentials::default().is_empty());
    }
}
