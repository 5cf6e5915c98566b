//! `type: splunk_hec`: the Splunk HTTP Event Collector API, so Splunk logging libraries, OTel and
//! Fluent Bit Splunk exporters and Splunk forwarders can send to Sluice unchanged.
//!
//! Endpoints, bodies and the `{"text": …, "code": n}` answers follow Splunk's published API:
//! `/services/collector[/event]` takes concatenated JSON event objects, `/services/collector/raw`
//! takes lines, `/services/collector/health` reports readiness, and with `ack: true` (indexer
//! acknowledgement) every request on a channel gets an `ackId` that `/services/collector/ack`
//! reports as true once every output has accepted the request's records.
//!
//! Validation is all or nothing: an invalid event anywhere refuses the whole body (with
//! `invalid-event-number`) before anything is queued, so a client's corrected retry never
//! duplicates the events before it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::event::RecordMeta;
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::http_common::{
    self, batch_count, enqueue, listen_problem, offload, read_body, BodyError, Credentials,
    HttpMetrics, Listener, Records, RequestAck, SenderSlot, RETRY_AFTER_SECS,
};
use super::{InputContext, InputError};
use crate::config::{HecRecord, SplunkHecInputConfig};
use crate::event::Origin;
use crate::pipeline::ack::AckRef;
use crate::source_type::SourceType;

/// Ack queries are small; this bounds them whatever `max_body_bytes` says.
const MAX_ACK_QUERY_BYTES: usize = 1024 * 1024;

impl SplunkHecInputConfig {
    /// What `sluice validate` reports, as (key under the input, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(m) = listen_problem(&self.listen) {
            out.push(("listen".into(), m));
        }
        if let Err(m) = self.credentials() {
            out.push(("token".into(), m));
        }
        if let Some(tls) = &self.tls {
            if let Err(e) = crate::tls::server_config(tls) {
                out.push(("tls".into(), e.to_string()));
            }
        }
        for (key, v) in [
            ("max_body_bytes", self.max_body_bytes),
            ("max_connections", self.max_connections),
            ("max_pending_acks", self.max_pending_acks),
        ] {
            if v == 0 {
                out.push((key.into(), "expected at least 1".into()));
            }
        }
        if self.ack_idle_timeout.is_zero() {
            out.push((
                "ack_idle_timeout".into(),
                "expected a duration above 0".into(),
            ));
        }
        out
    }

    fn credentials(&self) -> Result<Credentials, String> {
        Credentials::load(
            self.token.as_ref(),
            self.token_file.as_deref(),
            &self.tokens,
            self.tokens_file.as_deref(),
            "token",
        )
    }
}

/// Splunk's HEC status codes: the JSON `code`, its `text`, and the HTTP status Splunk pairs with
/// it. Only the ones Sluice can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hec {
    Success,
    TokenRequired,
    InvalidAuthorization,
    InvalidToken,
    NoData,
    InvalidDataFormat,
    IncorrectIndex,
    InternalError,
    ServerBusy,
    ChannelMissing,
    InvalidChannel,
    EventRequired,
    EventBlank,
    AckDisabled,
    QueryStringAuthDisabled,
    Healthy,
    QueuesFull,
}

impl Hec {
    fn code(self) -> u16 {
        match self {
            Hec::Success => 0,
            Hec::TokenRequired => 2,
            Hec::InvalidAuthorization => 3,
            Hec::InvalidToken => 4,
            Hec::NoData => 5,
            Hec::InvalidDataFormat => 6,
            Hec::IncorrectIndex => 7,
            Hec::InternalError => 8,
            Hec::ServerBusy => 9,
            Hec::ChannelMissing => 10,
            Hec::InvalidChannel => 11,
            Hec::EventRequired => 12,
            Hec::EventBlank => 13,
            Hec::AckDisabled => 14,
            Hec::QueryStringAuthDisabled => 16,
            Hec::Healthy => 17,
            Hec::QueuesFull => 18,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Hec::Success => "Success",
            Hec::TokenRequired => "Token is required",
            Hec::InvalidAuthorization => "Invalid authorization",
            Hec::InvalidToken => "Invalid token",
            Hec::NoData => "No data",
            Hec::InvalidDataFormat => "Invalid data format",
            Hec::IncorrectIndex => "Incorrect index",
            Hec::InternalError => "Internal server error",
            Hec::ServerBusy => "Server is busy",
            Hec::ChannelMissing => "Data channel is missing",
            Hec::InvalidChannel => "Invalid data channel",
            Hec::EventRequired => "Event field is required",
            Hec::EventBlank => "Event field cannot be blank",
            Hec::AckDisabled => "ACK is disabled",
            Hec::QueryStringAuthDisabled => "Query string authorization is not enabled",
            Hec::Healthy => "HEC is healthy",
            Hec::QueuesFull => "HEC is unhealthy, queues are full",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Hec::Success | Hec::Healthy => StatusCode::OK,
            Hec::TokenRequired | Hec::InvalidAuthorization => StatusCode::UNAUTHORIZED,
            Hec::InvalidToken => StatusCode::FORBIDDEN,
            Hec::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Hec::ServerBusy | Hec::QueuesFull => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `reason` label of `sluice_http_input_rejected_total`.
    fn reason(self) -> &'static str {
        match self {
            Hec::Success | Hec::Healthy => "none",
            Hec::TokenRequired => "token_required",
            Hec::InvalidAuthorization => "invalid_authorization",
            Hec::InvalidToken => "invalid_token",
            Hec::NoData => "no_data",
            Hec::InvalidDataFormat => "invalid_data_format",
            Hec::IncorrectIndex => "incorrect_index",
            Hec::InternalError => "internal_error",
            Hec::ServerBusy | Hec::QueuesFull => "busy",
            Hec::ChannelMissing => "channel_missing",
            Hec::InvalidChannel => "invalid_channel",
            Hec::EventRequired => "event_required",
            Hec::EventBlank => "event_blank",
            Hec::AckDisabled => "ack_disabled",
            Hec::QueryStringAuthDisabled => "query_string_auth_disabled",
        }
    }

    fn body(self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("text".into(), Value::from(self.text()));
        m.insert("code".into(), Value::from(self.code()));
        m
    }

    fn reply(self) -> Response {
        reply(self.status(), self.body())
    }
}

fn reply(status: StatusCode, body: Map<String, Value>) -> Response {
    let mut r = (status, axum::Json(Value::Object(body))).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    }
    r
}

/// A refusal: its HEC status, and for event bodies the index of the offending event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal {
    hec: Hec,
    event: Option<usize>,
}

impl From<Hec> for Refusal {
    fn from(hec: Hec) -> Self {
        Refusal { hec, event: None }
    }
}

impl Refusal {
    fn at(hec: Hec, event: usize) -> Self {
        Refusal {
            hec,
            event: Some(event),
        }
    }
}

/// Query parameters Splunk defines for the collector endpoints.
#[derive(Debug, Default, Deserialize)]
struct HecQuery {
    token: Option<String>,
    channel: Option<String>,
    index: Option<String>,
    /// Raw endpoint metadata for every line of the request.
    host: Option<String>,
    source: Option<String>,
    sourcetype: Option<String>,
}

/// Delivery state of indexer acknowledgements, per channel.
#[derive(Debug)]
struct AckTable {
    state: Mutex<AckState>,
    idle: Duration,
    max_pending: usize,
}

#[derive(Debug, Default)]
struct AckState {
    channels: HashMap<String, Channel>,
    /// Acknowledgements not yet reported as settled, over every channel.
    pending: usize,
    last_sweep: Option<Instant>,
}

#[derive(Debug)]
struct Channel {
    next_id: u64,
    /// ackId → `None` while in flight, then whether every output accepted it.
    acks: HashMap<u64, Option<bool>>,
    last_used: Instant,
}

impl AckTable {
    fn new(idle: Duration, max_pending: usize) -> Self {
        AckTable {
            state: Mutex::new(AckState::default()),
            idle,
            max_pending,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AckState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets channels idle for longer than `idle`, with their unqueried acknowledgements.
    fn sweep(&self, s: &mut AckState, now: Instant) {
        let every = (self.idle / 10).max(Duration::from_secs(1));
        if s.last_sweep.is_some_and(|t| now.duration_since(t) < every) {
            return;
        }
        s.last_sweep = Some(now);
        let idle = self.idle;
        let mut dropped = 0;
        s.channels.retain(|_, c| {
            let keep = now.duration_since(c.last_used) < idle;
            if !keep {
                dropped += c.acks.len();
            }
            keep
        });
        s.pending -= dropped.min(s.pending);
    }

    /// A new ackId on `channel`, or `None` when too many are waiting to be queried.
    fn register(&self, channel: &str) -> Option<u64> {
        let now = Instant::now();
        let mut s = self.lock();
        self.sweep(&mut s, now);
        if s.pending >= self.max_pending {
            return None;
        }
        s.pending += 1;
        let c = s
            .channels
            .entry(channel.to_string())
            .or_insert_with(|| Channel {
                next_id: 0,
                acks: HashMap::new(),
                last_used: now,
            });
        let id = c.next_id;
        c.next_id += 1;
        c.acks.insert(id, None);
        c.last_used = now;
        Some(id)
    }

    fn complete(&self, channel: &str, id: u64, delivered: bool) {
        let mut s = self.lock();
        if let Some(slot) = s
            .channels
            .get_mut(channel)
            .and_then(|c| c.acks.get_mut(&id))
        {
            *slot = Some(delivered);
        }
    }

    /// Drops an ackId whose request was refused after all.
    fn forget(&self, channel: &str, id: u64) {
        let mut s = self.lock();
        let removed = s
            .channels
            .get_mut(channel)
            .and_then(|c| c.acks.remove(&id))
            .is_some();
        if removed {
            s.pending -= 1.min(s.pending);
        }
    }

    /// Splunk's semantics: true once delivered (then forgotten: each ackId is reported true once),
    /// false while in flight, for unknown ids, and for requests that failed (the client resends).
    fn query(&self, channel: &str, ids: &[u64]) -> Vec<(u64, bool)> {
        let now = Instant::now();
        let mut s = self.lock();
        self.sweep(&mut s, now);
        let mut settled = 0;
        let out = match s.channels.get_mut(channel) {
            None => ids.iter().map(|&id| (id, false)).collect(),
            Some(c) => {
                c.last_used = now;
                ids.iter()
                    .map(|&id| match c.acks.get(&id) {
                        Some(Some(ok)) => {
                            let ok = *ok;
                            c.acks.remove(&id);
                            settled += 1;
                            (id, ok)
                        }
                        _ => (id, false),
                    })
                    .collect()
            }
        };
        s.pending -= settled.min(s.pending);
        out
    }
}

/// Splunk channels are GUIDs: `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

struct HecState {
    name: Arc<str>,
    sender: SenderSlot,
    tokens: Credentials,
    allow_query_string_auth: bool,
    ack: bool,
    acks: Arc<AckTable>,
    indexes: Vec<String>,
    record: HecRecord,
    max_body_bytes: usize,
    batch_size: usize,
    source_type: Option<SourceType>,
    metrics: Arc<HttpMetrics>,
    stop: CancellationToken,
}

/// Binds the listener now (a port in use fails the start) and serves on a task.
pub fn start(cfg: SplunkHecInputConfig, ctx: InputContext) -> Result<JoinHandle<()>, InputError> {
    let tokens = cfg.credentials().map_err(InputError::Config)?;
    let listener = Listener::bind(&cfg.listen, cfg.tls.as_ref())?;
    tracing::info!(input = %ctx.name, address = %listener.local, tls = listener.is_tls(), ack = cfg.ack, "splunk_hec input listening");
    if tokens.is_empty() {
        tracing::warn!(input = %ctx.name, "no HEC token configured: any token, or none, is accepted");
    }
    let metrics = HttpMetrics::new(&ctx.metrics, &ctx.name);
    let state = Arc::new(HecState {
        name: Arc::clone(&ctx.name),
        sender: SenderSlot::new(ctx.sender.clone()),
        tokens,
        allow_query_string_auth: cfg.allow_query_string_auth,
        ack: cfg.ack,
        acks: Arc::new(AckTable::new(cfg.ack_idle_timeout, cfg.max_pending_acks)),
        indexes: cfg.indexes.clone(),
        record: cfg.record,
        max_body_bytes: cfg.max_body_bytes,
        batch_size: ctx.batch_size,
        source_type: cfg.source_type.as_deref().map(SourceType::from_name),
        metrics: Arc::clone(&metrics),
        stop: ctx.stop.clone(),
    });
    let router = Router::new()
        .route("/services/collector", post(event))
        .route("/services/collector/event", post(event))
        .route("/services/collector/event/1.0", post(event))
        .route("/services/collector/raw", post(raw))
        .route("/services/collector/raw/1.0", post(raw))
        .route("/services/collector/health", get(health))
        .route("/services/collector/health/1.0", get(health))
        .route("/services/collector/ack", post(ack_query))
        .fallback(|| async {
            let mut m = Map::new();
            m.insert(
                "text".into(),
                "The requested URL was not found on this server.".into(),
            );
            m.insert("code".into(), 404.into());
            reply(StatusCode::NOT_FOUND, m)
        })
        .with_state(Arc::clone(&state));
    let max_connections = cfg.max_connections;
    Ok(tokio::spawn(async move {
        http_common::serve(listener, router, max_connections, metrics, &ctx).await;
        state.sender.clear();
        tracing::debug!(input = %state.name, "splunk_hec input stopped");
    }))
}

impl HecState {
    fn refuse(&self, r: Refusal) -> Response {
        self.metrics.reject(r.hec.reason());
        let mut body = r.hec.body();
        if let Some(i) = r.event {
            body.insert("invalid-event-number".into(), Value::from(i));
        }
        reply(r.hec.status(), body)
    }

    /// `Authorization: Splunk <token>`, HTTP Basic with the token as password, or `?token=` when
    /// allowed, as Splunk documents them.
    fn authenticate(&self, headers: &HeaderMap, query: &HecQuery) -> Result<(), Hec> {
        if self.tokens.is_empty() {
            return Ok(());
        }
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let v = v.as_bytes().trim_ascii();
            let (scheme, rest) = match v.iter().position(|&b| b == b' ') {
                Some(i) => (&v[..i], v[i..].trim_ascii()),
                None => (v, &b""[..]),
            };
            let token: Vec<u8> = if scheme.eq_ignore_ascii_case(b"splunk") {
                rest.to_vec()
            } else if scheme.eq_ignore_ascii_case(b"basic") {
                use base64::Engine;
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .map_err(|_| Hec::InvalidAuthorization)?;
                let colon = decoded
                    .iter()
                    .position(|&b| b == b':')
                    .ok_or(Hec::InvalidAuthorization)?;
                decoded[colon + 1..].to_vec()
            } else {
                return Err(Hec::InvalidAuthorization);
            };
            if token.is_empty() {
                return Err(Hec::TokenRequired);
            }
            return if self.tokens.accepts(&token) {
                Ok(())
            } else {
                Err(Hec::InvalidToken)
            };
        }
        match &query.token {
            Some(_) if !self.allow_query_string_auth => Err(Hec::QueryStringAuthDisabled),
            Some(t) if self.tokens.accepts(t.as_bytes()) => Ok(()),
            Some(_) => Err(Hec::InvalidToken),
            None => Err(Hec::TokenRequired),
        }
    }

    /// The request's channel: required and a GUID when indexer acknowledgement is on.
    fn channel(&self, headers: &HeaderMap, query: &HecQuery) -> Result<Option<String>, Hec> {
        let channel = headers
            .get("x-splunk-request-channel")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
            .or_else(|| query.channel.clone())
            .filter(|c| !c.is_empty());
        if !self.ack {
            return Ok(channel);
        }
        match channel {
            None => Err(Hec::ChannelMissing),
            Some(c) if !is_guid(&c) => Err(Hec::InvalidChannel),
            Some(c) => Ok(Some(c.to_ascii_lowercase())),
        }
    }

    fn index_allowed(&self, index: Option<&str>) -> bool {
        match index {
            None => true,
            Some(i) => self.indexes.is_empty() || self.indexes.iter().any(|a| a == i),
        }
    }

    /// Everything a data request goes through before its body is cut: stopping, credentials,
    /// channel, size and encoding. Gives the decoded body and the channel.
    async fn admit(
        &self,
        headers: &HeaderMap,
        query: &HecQuery,
        body: Body,
    ) -> Result<(Vec<u8>, Option<String>), Response> {
        if self.stop.is_cancelled() {
            return Err(self.refuse(Hec::ServerBusy.into()));
        }
        self.authenticate(headers, query)
            .map_err(|h| self.refuse(h.into()))?;
        let channel = self
            .channel(headers, query)
            .map_err(|h| self.refuse(h.into()))?;
        let gzip = http_common::content_encoding(headers).map_err(|e| self.body_error(&e))?;
        let body = read_body(headers, body, self.max_body_bytes)
            .await
            .map_err(|e| self.body_error(&e))?;
        self.metrics.request_bytes.add(body.len() as u64);
        let body = if gzip {
            let max = self.max_body_bytes;
            offload(body.len(), move || http_common::gunzip(&body, max))
                .await
                .unwrap_or(Err(BodyError::Read("decompression failed".into())))
                .map_err(|e| self.body_error(&e))?
        } else {
            body
        };
        Ok((body, channel))
    }

    fn body_error(&self, e: &BodyError) -> Response {
        let (status, reason, hec) = match e {
            BodyError::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                Hec::InvalidDataFormat,
            ),
            BodyError::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                Hec::InvalidDataFormat,
            ),
            _ => (
                StatusCode::BAD_REQUEST,
                "invalid_data_format",
                Hec::InvalidDataFormat,
            ),
        };
        self.metrics.reject(reason);
        let mut body = Map::new();
        body.insert("text".into(), Value::from(format!("{}: {e}", hec.text())));
        body.insert("code".into(), Value::from(hec.code()));
        reply(status, body)
    }

    /// Queues the records; with indexer acknowledgement, under a new ackId on `channel`.
    async fn submit(
        &self,
        peer: SocketAddr,
        records: Records,
        channel: Option<String>,
    ) -> Response {
        let Some(sender) = self.sender.get() else {
            return self.refuse(Hec::ServerBusy.into());
        };
        let origin = Arc::new(Origin {
            peer: Some(peer),
            source_type: self.source_type.clone(),
            ..Origin::input(Arc::clone(&self.name))
        });
        let n = records.len();
        let tracked = match (&channel, self.ack) {
            (Some(c), true) => match self.acks.register(c) {
                Some(id) => Some((c.clone(), id)),
                None => return self.refuse(Hec::ServerBusy.into()),
            },
            _ => None,
        };
        let batches = match &tracked {
            Some((c, id)) => {
                let (acks, c, id) = (Arc::clone(&self.acks), c.clone(), *id);
                let ack = RequestAck::new(batch_count(n, self.batch_size), move |ok| {
                    acks.complete(&c, id, ok)
                });
                records.into_batches(&origin, self.batch_size, |i| ack.ack_ref(i))
            }
            None => records.into_batches(&origin, self.batch_size, |_| AckRef::none()),
        };
        if enqueue(&sender, batches, &self.stop).await.is_err() {
            if let Some((c, id)) = &tracked {
                self.acks.forget(c, *id);
            }
            return self.refuse(Hec::ServerBusy.into());
        }
        let mut body = Hec::Success.body();
        if let Some((_, id)) = tracked {
            body.insert("ackId".into(), Value::from(id));
        }
        reply(StatusCode::OK, body)
    }
}

/// Splunk's `time`: epoch seconds, a number or a numeric string, with an optional fraction.
fn epoch_time(v: &serde_json::Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let secs = match v {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !(0.0..=32_503_680_000.0).contains(&secs) {
        return None;
    }
    let whole = secs.trunc() as i64;
    let nanos = ((secs - secs.trunc()) * 1e9).round().min(999_999_999.0) as u32;
    chrono::DateTime::from_timestamp(whole, nanos)
}

/// Cuts an event body: JSON objects one after another (whitespace between them or not), each
/// with an `event`. Any bad event refuses the whole body.
fn parse_events(
    body: &[u8],
    mode: HecRecord,
    default_index: Option<&str>,
    index_allowed: impl Fn(Option<&str>) -> bool,
) -> Result<Records, Refusal> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow, default)]
        event: Option<&'a RawValue>,
        #[serde(default)]
        index: Option<String>,
        #[serde(default)]
        time: Option<serde_json::Value>,
        #[serde(default)]
        host: Option<String>,
        #[serde(default)]
        source: Option<String>,
        #[serde(default)]
        sourcetype: Option<String>,
        #[serde(default)]
        fields: Option<serde_json::Value>,
    }
    let mut records = Records::default();
    let stream = serde_json::Deserializer::from_slice(body).into_iter::<&RawValue>();
    for (i, item) in stream.enumerate() {
        let raw = item.map_err(|_| Refusal::at(Hec::InvalidDataFormat, i))?;
        if !raw.get().starts_with('{') {
            return Err(Refusal::at(Hec::InvalidDataFormat, i));
        }
        let env: Envelope<'_> =
            serde_json::from_str(raw.get()).map_err(|_| Refusal::at(Hec::InvalidDataFormat, i))?;
        let event = match env.event {
            Some(e) if e.get() != "null" => e,
            _ => return Err(Refusal::at(Hec::EventRequired, i)),
        };
        let blank = match serde_json::from_str::<std::borrow::Cow<'_, str>>(event.get()) {
            Ok(s) => s.trim().is_empty(),
            Err(_) => false,
        };
        if blank {
            return Err(Refusal::at(Hec::EventBlank, i));
        }
        if !index_allowed(env.index.as_deref().or(default_index)) {
            return Err(Refusal::at(Hec::IncorrectIndex, i));
        }
        match mode {
            HecRecord::Event => {
                http_common::push_json_value(event, &mut records);
                records.set_last_meta(RecordMeta {
                    time: env.time.as_ref().and_then(epoch_time),
                    host: env.host,
                    source: env.source,
                    sourcetype: env.sourcetype,
                    index: env.index.or_else(|| default_index.map(str::to_owned)),
                    fields: env.fields.filter(serde_json::Value::is_object),
                    ..RecordMeta::default()
                });
            }
            HecRecord::Envelope => {
                let start = records.buf.len();
                http_common::minify_json(raw.get(), &mut records.buf);
                records.ranges.push(start..records.buf.len());
            }
        }
    }
    if records.is_empty() {
        return Err(Hec::NoData.into());
    }
    Ok(records)
}

/// The query string, or a refusal when it cannot be read.
type HecQueryResult = Result<Query<HecQuery>, axum::extract::rejection::QueryRejection>;

/// The query string read, the request authorised and its body read: what both endpoints do first.
async fn admit_request(
    st: &HecState,
    query: HecQueryResult,
    headers: &HeaderMap,
    body: Body,
) -> Result<(HecQuery, Vec<u8>, Option<String>), Response> {
    let Ok(Query(query)) = query else {
        return Err(st.refuse(Hec::InvalidDataFormat.into()));
    };
    let (body, channel) = st.admit(headers, &query, body).await?;
    Ok((query, body, channel))
}

async fn event(
    State(st): State<Arc<HecState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: HecQueryResult,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (query, body, channel) = match admit_request(&st, query, &headers, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (st2, index) = (Arc::clone(&st), query.index.clone());
    let parsed = offload(body.len(), move || {
        parse_events(&body, st2.record, index.as_deref(), |i| {
            st2.index_allowed(i)
        })
    })
    .await
    .unwrap_or(Err(Hec::InternalError.into()));
    match parsed {
        Ok(records) => st.submit(peer, records, channel).await,
        Err(r) => st.refuse(r),
    }
}

async fn raw(
    State(st): State<Arc<HecState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: HecQueryResult,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (query, body, channel) = match admit_request(&st, query, &headers, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if !st.index_allowed(query.index.as_deref()) {
        return st.refuse(Hec::IncorrectIndex.into());
    }
    let mut records = Records::lines(body);
    let meta = RecordMeta {
        host: query.host.clone(),
        source: query.source.clone(),
        sourcetype: query.sourcetype.clone(),
        index: query.index.clone(),
        ..RecordMeta::default()
    };
    if !meta.is_empty() {
        records.metas = (0..records.len())
            .map(|_| Some(Box::new(meta.clone())))
            .collect();
    }
    if records.is_empty() {
        return st.refuse(Hec::NoData.into());
    }
    st.submit(peer, records, channel).await
}

async fn health(State(st): State<Arc<HecState>>) -> Response {
    match st.sender.get() {
        _ if st.stop.is_cancelled() => Hec::ServerBusy.reply(),
        None => Hec::ServerBusy.reply(),
        Some(s) if s.is_full() => Hec::QueuesFull.reply(),
        Some(_) => Hec::Healthy.reply(),
    }
}

async fn ack_query(
    State(st): State<Arc<HecState>>,
    query: HecQueryResult,
    headers: HeaderMap,
    body: Body,
) -> Response {
    #[derive(Deserialize)]
    struct AckRequest {
        acks: Vec<u64>,
    }
    let Ok(Query(query)) = query else {
        return st.refuse(Hec::InvalidDataFormat.into());
    };
    if let Err(h) = st.authenticate(&headers, &query) {
        return st.refuse(h.into());
    }
    if !st.ack {
        return st.refuse(Hec::AckDisabled.into());
    }
    let channel = match st.channel(&headers, &query) {
        Ok(Some(c)) => c,
        Ok(None) => return st.refuse(Hec::ChannelMissing.into()),
        Err(h) => return st.refuse(h.into()),
    };
    let body = match read_body(&headers, body, MAX_ACK_QUERY_BYTES).await {
        Ok(b) => b,
        Err(e) => return st.body_error(&e),
    };
    let body = match http_common::content_encoding(&headers) {
        Ok(true) => match http_common::gunzip(&body, MAX_ACK_QUERY_BYTES) {
            Ok(b) => b,
            Err(e) => return st.body_error(&e),
        },
        Ok(false) => body,
        Err(e) => return st.body_error(&e),
    };
    let Ok(req) = serde_json::from_slice::<AckRequest>(&body) else {
        return st.refuse(Hec::InvalidDataFormat.into());
    };
    let acks: Map<String, Value> = st
        .acks
        .query(&channel, &req.acks)
        .into_iter()
        .map(|(id, ok)| (id.to_string(), Value::from(ok)))
        .collect();
    (StatusCode::OK, axum::Json(json!({ "acks": acks }))).into_response()
}

#[cfg(test)]
mod tests;
