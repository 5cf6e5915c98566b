//! `type: http`: records POSTed by any HTTP client. The body is cut by its `Content-Type`: NDJSON
//! and text into lines, a JSON array into its elements, any other JSON value into one record.
//!
//! Success means what `ack` says: `accepted` answers 200 once the records are queued for the
//! processors; `delivered` answers only once every output acknowledged them, so a client that
//! retries on anything else loses nothing. A full pipeline is answered 429 after a short wait
//! rather than by blocking a runtime thread.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::http_common::{
    self, batch_count, enqueue, listen_problem, offload, read_body, BodyError, Credentials,
    Enqueue, HttpMetrics, Listener, Records, RequestAck, SenderSlot, RETRY_AFTER_SECS,
};
use super::{InputContext, InputError};
use crate::config::{HttpAck, HttpInputConfig};
use crate::event::Origin;
use crate::pipeline::ack::AckRef;
use crate::source_type::SourceType;

impl HttpInputConfig {
    /// What `sluice validate` reports, as (key under the input, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(m) = listen_problem(&self.listen) {
            out.push(("listen".into(), m));
        }
        if let Some(m) = path_problem(&self.path) {
            out.push(("path".into(), m));
        }
        if let Err(m) = Credentials::load(
            self.token.as_ref(),
            self.token_file.as_deref(),
            &[],
            None,
            "token",
        ) {
            out.push(("token".into(), m));
        }
        if let Err(m) = Credentials::load(
            None,
            None,
            &self.api_keys,
            self.api_keys_file.as_deref(),
            "api_keys",
        ) {
            out.push(("api_keys_file".into(), m));
        }
        if let Some(tls) = &self.tls {
            if let Err(e) = crate::tls::server_config(tls) {
                out.push(("tls".into(), e.to_string()));
            }
        }
        if self.max_body_bytes == 0 {
            out.push(("max_body_bytes".into(), "expected at least 1".into()));
        }
        if self.max_connections == 0 {
            out.push(("max_connections".into(), "expected at least 1".into()));
        }
        if self.timeout.is_zero() {
            out.push(("timeout".into(), "expected a duration above 0".into()));
        }
        out
    }
}

/// The router panics on some paths; these are refused before it sees them.
fn path_problem(path: &str) -> Option<String> {
    let bad = !path.starts_with('/')
        || path.contains(['{', '}', '*', '?', '#'])
        || path.split('/').any(|seg| seg.starts_with(':'));
    bad.then(|| format!("expected a literal URL path such as `/` or `/logs`, found `{path}`"))
}

struct HttpState {
    name: Arc<str>,
    sender: SenderSlot,
    bearer: Credentials,
    api_keys: Credentials,
    max_body_bytes: usize,
    ack: HttpAck,
    timeout: std::time::Duration,
    batch_size: usize,
    source_type: Option<SourceType>,
    metrics: Arc<HttpMetrics>,
    stop: CancellationToken,
    abort: CancellationToken,
}

/// Binds the listener now (a port in use fails the start) and serves on a task.
pub fn start(cfg: HttpInputConfig, ctx: InputContext) -> Result<JoinHandle<()>, InputError> {
    if let Some(m) = path_problem(&cfg.path) {
        return Err(InputError::Config(format!("path: {m}")));
    }
    let bearer = Credentials::load(
        cfg.token.as_ref(),
        cfg.token_file.as_deref(),
        &[],
        None,
        "token",
    )
    .map_err(InputError::Config)?;
    let api_keys = Credentials::load(
        None,
        None,
        &cfg.api_keys,
        cfg.api_keys_file.as_deref(),
        "api_keys",
    )
    .map_err(InputError::Config)?;
    let listener = Listener::bind(&cfg.listen, cfg.tls.as_ref())?;
    tracing::info!(input = %ctx.name, address = %listener.local, tls = listener.is_tls(), path = %cfg.path, "http input listening");
    if bearer.is_empty() && api_keys.is_empty() {
        tracing::warn!(input = %ctx.name, "no token or api_keys: anyone who can reach the port can send records");
    }
    let metrics = HttpMetrics::new(&ctx.metrics, &ctx.name);
    let state = Arc::new(HttpState {
        name: Arc::clone(&ctx.name),
        sender: SenderSlot::new(ctx.sender.clone()),
        bearer,
        api_keys,
        max_body_bytes: cfg.max_body_bytes,
        ack: cfg.ack,
        timeout: cfg.timeout,
        batch_size: ctx.batch_size,
        source_type: cfg.source_type.as_deref().map(SourceType::from_name),
        metrics: Arc::clone(&metrics),
        stop: ctx.stop.clone(),
        abort: ctx.abort.clone(),
    });
    let router = Router::new()
        .route(&cfg.path, post(receive))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such path") })
        .with_state(Arc::clone(&state));
    let max_connections = cfg.max_connections;
    Ok(tokio::spawn(async move {
        http_common::serve(listener, router, max_connections, metrics, &ctx).await;
        state.sender.clear();
        tracing::debug!(input = %state.name, "http input stopped");
    }))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// 429 or 503 with `Retry-After`: the client should come back shortly.
fn retry_later(status: StatusCode, message: &str, accepted: usize) -> Response {
    let mut r = (
        status,
        axum::Json(json!({ "error": message, "accepted": accepted })),
    )
        .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    r
}

/// How the body is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Lines,
    Json,
}

fn format(headers: &HeaderMap) -> Format {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase())
        .unwrap_or_default();
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Format::Json
    } else {
        // NDJSON, JSON lines, text/plain and anything else: one record per line.
        Format::Lines
    }
}

/// Why a body holds no usable records.
#[derive(Debug, thiserror::Error)]
enum ParseError {
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("the body is not valid JSON: {0}")]
    Json(String),
}

/// Decodes and cuts a body. JSON arrays become their elements (strings as their text, the rest
/// as compact JSON); any other JSON value is one record.
fn parse(body: Vec<u8>, gzip: bool, max: usize, format: Format) -> Result<Records, ParseError> {
    let body = if gzip {
        http_common::gunzip(&body, max)?
    } else {
        body
    };
    match format {
        Format::Lines => Ok(Records::lines(body)),
        Format::Json => {
            let mut records = Records::default();
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(records);
            }
            let value: &serde_json::value::RawValue =
                serde_json::from_slice(&body).map_err(|e| ParseError::Json(e.to_string()))?;
            if value.get().starts_with('[') {
                let elements: Vec<&serde_json::value::RawValue> = serde_json::from_str(value.get())
                    .map_err(|e| ParseError::Json(e.to_string()))?;
                for e in elements {
                    http_common::push_json_value(e, &mut records);
                }
            } else {
                http_common::push_json_value(value, &mut records);
            }
            Ok(records)
        }
    }
}

impl HttpState {
    /// Bearer token or API key; `None` when either matches or nothing is configured.
    fn unauthorized(&self, headers: &HeaderMap) -> Option<Response> {
        if self.bearer.is_empty() && self.api_keys.is_empty() {
            return None;
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes())
            .and_then(|v| {
                let (scheme, rest) = v.split_at(v.iter().position(|&b| b == b' ')?);
                scheme
                    .eq_ignore_ascii_case(b"bearer")
                    .then(|| rest.trim_ascii())
            });
        let key = headers.get("x-api-key").map(|v| v.as_bytes().trim_ascii());
        let ok = bearer.is_some_and(|t| !self.bearer.is_empty() && self.bearer.accepts(t))
            || key.is_some_and(|k| !self.api_keys.is_empty() && self.api_keys.accepts(k));
        if ok {
            return None;
        }
        let (reason, message) = if bearer.is_none() && key.is_none() {
            (
                "missing_credentials",
                "credentials required: `Authorization: Bearer <token>` or `X-API-Key`",
            )
        } else {
            ("invalid_credentials", "invalid credentials")
        };
        self.metrics.reject(reason);
        let mut r = error(StatusCode::UNAUTHORIZED, message);
        if !self.bearer.is_empty() {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        Some(r)
    }
}

async fn receive(
    State(st): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if st.stop.is_cancelled() {
        st.metrics.reject("stopping");
        return retry_later(StatusCode::SERVICE_UNAVAILABLE, "the input is stopping", 0);
    }
    if let Some(r) = st.unauthorized(&headers) {
        return r;
    }
    let gzip = match http_common::content_encoding(&headers) {
        Ok(g) => g,
        Err(e) => {
            st.metrics.reject("unsupported_encoding");
            return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &e.to_string());
        }
    };
    let body = match read_body(&headers, body, st.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return body_error(&st, &e),
    };
    st.metrics.request_bytes.add(body.len() as u64);
    let (max, fmt) = (st.max_body_bytes, format(&headers));
    let parsed = offload(body.len(), move || parse(body, gzip, max, fmt)).await;
    let records = match parsed {
        Some(Ok(r)) => r,
        Some(Err(ParseError::Body(e))) => return body_error(&st, &e),
        Some(Err(e @ ParseError::Json(_))) => {
            st.metrics.reject("bad_request");
            return error(StatusCode::BAD_REQUEST, &e.to_string());
        }
        None => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request could not be processed",
            )
        }
    };
    let n = records.len();
    if n == 0 {
        return (StatusCode::OK, axum::Json(json!({ "accepted": 0 }))).into_response();
    }
    let Some(sender) = st.sender.get() else {
        st.metrics.reject("stopping");
        return retry_later(StatusCode::SERVICE_UNAVAILABLE, "the input is stopping", 0);
    };
    let origin = Arc::new(Origin {
        peer: Some(peer),
        source_type: st.source_type.clone(),
        ..Origin::input(Arc::clone(&st.name))
    });
    let (batches, delivered) = match st.ack {
        HttpAck::Accepted => (
            records.into_batches(&origin, st.batch_size, |_| AckRef::none()),
            None,
        ),
        HttpAck::Delivered => {
            let (ack, rx) = RequestAck::waiter(batch_count(n, st.batch_size));
            (
                records.into_batches(&origin, st.batch_size, |i| ack.ack_ref(i)),
                Some(rx),
            )
        }
    };
    let per_batch = st.batch_size.max(1);
    match enqueue(&sender, batches, &st.stop).await {
        Ok(()) => {}
        Err(Enqueue::Busy { sent }) => {
            st.metrics.reject("busy");
            let accepted = (sent * per_batch).min(n);
            return retry_later(
                StatusCode::TOO_MANY_REQUESTS,
                "the pipeline is full; retry later",
                accepted,
            );
        }
        Err(Enqueue::Stopping { sent }) => {
            st.metrics.reject("stopping");
            let accepted = (sent * per_batch).min(n);
            return retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                "the input is stopping",
                accepted,
            );
        }
    }
    drop(sender);
    if let Some(rx) = delivered {
        let outcome = tokio::select! {
            r = tokio::time::timeout(st.timeout, rx) => r,
            _ = st.abort.cancelled() => Ok(Ok(false)),
        };
        match outcome {
            Ok(Ok(true)) => {}
            Ok(_) => {
                st.metrics.reject("not_delivered");
                return retry_later(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the records were not delivered by every output; send them again",
                    0,
                );
            }
            Err(_) => {
                st.metrics.reject("ack_timeout");
                return error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the outputs did not acknowledge in time; the records may still be delivered",
                );
            }
        }
    }
    (StatusCode::OK, axum::Json(json!({ "accepted": n }))).into_response()
}

fn body_error(st: &HttpState, e: &BodyError) -> Response {
    let (status, reason) = match e {
        BodyError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        BodyError::Timeout => (StatusCode::REQUEST_TIMEOUT, "body_timeout"),
        BodyError::Read(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        BodyError::UnsupportedEncoding(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding")
        }
        BodyError::BadGzip(_) => (StatusCode::BAD_REQUEST, "bad_request"),
    };
    st.metrics.reject(reason);
    error(status, &e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(r: &Records) -> Vec<String> {
        r.ranges
            .iter()
            .map(|x| String::from_utf8_lossy(&r.buf[x.clone()]).into_owned())
            .collect()
    }

    #[test]
    fn json_arrays_become_elements_and_objects_one_record() {
        let body = br#"[ {"a": 1,  "b": [1, 2]}, "a <13>syslog line", 3 ]"#.to_vec();
        let r = parse(body, false, 1 << 20, Format::Json).unwrap();
        assert_eq!(
            texts(&r),
            vec![r#"{"a":1,"b":[1,2]}"#, "a <13>syslog line", "3"]
        );
        let r = parse(
            b"{\n \"x\": \"y z\"\n}".to_vec(),
            false,
            1 << 20,
            Format::Json,
        )
        .unwrap();
        assert_eq!(texts(&r), vec![r#"{"x":"y z"}"#]);
        assert!(parse(b"[1,".to_vec(), false, 1 << 20, Format::Json).is_err());
        assert!(parse(b" \n".to_vec(), false, 1 << 20, Format::Json)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn content_types_choose_the_framing() {
        let mut h = HeaderMap::new();
        assert_eq!(format(&h), Format::Lines);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert_eq!(format(&h), Format::Json);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        assert_eq!(format(&h), Format::Lines);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/cloudevents+json"),
        );
        assert_eq!(format(&h), Format::Json);
    }

    #[test]
    fn paths_the_router_would_reject_are_problems() {
        assert!(path_problem("/").is_none());
        assert!(path_problem("/v1/logs").is_none());
        for bad in ["logs", "/{x}", "/a/:b", "/*rest", ""] {
            assert!(path_problem(bad).is_some(), "{bad}");
        }
    }
}
