//! The HTTP API: `/health`, `/ready`, `/metrics`, `POST /v1/normalize`, `/v1/openapi.json`, and
//! the status page (`/`, `/v1/status`).
//!
//! It runs on the agent's tokio runtime; normalization, which is CPU work, runs on the blocking
//! pool behind a semaphore of one permit per core, so requests never stall the reactor and a flood
//! of them queues instead of spawning threads. Keys, rate limits and size limits are swapped in
//! place on reload; a changed `listen` or `tls` restarts the listener.

mod auth;
mod listener;
mod normalize;
mod status;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ApiConfig, ApiNormalizeConfig, ApiRateLimit, Secret};
use crate::metrics::{Histogram, Metrics};
use crate::pipeline::CurrentProcessor;
use crate::readiness::{ComponentState, Readiness};
use auth::RateLimiter;
use listener::{ApiListener, Peer};

/// Every route the API serves, as (method, path). The OpenAPI document must list each one (a
/// test checks it), and the request metrics use these paths as the `route` label.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("POST", "/v1/normalize"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/"),
    ("GET", "/v1/status"),
];

/// The OpenAPI 3.0 description of [`ROUTES`].
pub const OPENAPI: &str = include_str!("openapi.json");

/// Problems in `api:` that serde cannot see, as (key under `api`, message). Key files and TLS files
/// are read here so that `sluice validate` reports them.
pub fn config_problems(cfg: &ApiConfig) -> Vec<(String, String)> {
    let mut p = Vec::new();
    let port = cfg
        .listen
        .rsplit_once(':')
        .map(|(h, port)| (h, port.parse::<u16>()));
    if !matches!(port, Some((h, Ok(_))) if !h.is_empty()) {
        p.push((
            "listen".into(),
            format!(
                "expected `host:port` such as `127.0.0.1:8686` or `[::]:8686`, found `{}`",
                cfg.listen
            ),
        ));
    }
    if let Some(tls) = &cfg.tls {
        if let Err(e) = crate::tls::server_config(tls) {
            p.push(("tls".into(), e.to_string()));
        }
    }
    if cfg.api_keys.iter().any(|k| k.expose().trim().is_empty()) {
        p.push(("api_keys".into(), "an API key must not be empty".into()));
    }
    match load_keys(cfg) {
        Ok(keys) => {
            if cfg.metrics_require_key && keys.is_empty() {
                p.push((
                    "metrics_require_key".into(),
                    "needs `api_keys` or `api_keys_file`".into(),
                ));
            }
        }
        Err(e) => p.push(("api_keys_file".into(), e)),
    }
    if let Some(r) = &cfg.rate_limit {
        if !(r.requests_per_second.is_finite() && r.requests_per_second > 0.0) {
            p.push((
                "rate_limit.requests_per_second".into(),
                "expected a number above 0".into(),
            ));
        }
        if r.burst == Some(0) {
            p.push(("rate_limit.burst".into(), "expected at least 1".into()));
        }
    }
    if cfg.normalize.max_records == 0 {
        p.push(("normalize.max_records".into(), "expected at least 1".into()));
    }
    if cfg.normalize.max_body_bytes < 64 {
        p.push((
            "normalize.max_body_bytes".into(),
            "expected at least 64".into(),
        ));
    }
    p
}

/// `api_keys` plus the keys in `api_keys_file`. Errors name the file, never a key. A key file
/// with no key in it is an error: an API meant to be closed must not open by accident.
fn load_keys(cfg: &ApiConfig) -> Result<Vec<Secret>, String> {
    let mut keys = cfg.api_keys.clone();
    if let Some(file) = &cfg.api_keys_file {
        let from_file = Secret::list_from_file(file)?;
        if from_file.is_empty() {
            return Err(format!("{}: no API key in the file", file.display()));
        }
        keys.extend(from_file);
    }
    Ok(keys)
}

/// Why the API could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApiStartError {
    #[error("api.listen: cannot listen on `{listen}`: {source}")]
    Bind {
        listen: String,
        source: std::io::Error,
    },
    #[error("api.tls: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("api.api_keys_file: {0}")]
    Keys(String),
}

/// What the API reads from the rest of the agent. Cheap to clone; survives listener restarts.
#[derive(Debug, Clone)]
pub struct ApiDeps {
    metrics: Metrics,
    readiness: Readiness,
    /// Set once the topology runs; `/v1/normalize` answers 503 before that.
    processor: Arc<OnceLock<CurrentProcessor>>,
    /// One permit per core: normalization jobs running at once.
    cpu: Arc<Semaphore>,
    /// For the status page's uptime.
    started: Instant,
}

impl ApiDeps {
    pub fn new(metrics: Metrics, readiness: Readiness) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        metrics.gauge_fn(
            "sluice_build_info",
            "Always 1; the version is in the label",
            &[("version", env!("CARGO_PKG_VERSION"))],
            Arc::new(|| Some(1)),
        );
        // What /ready answers, as a number Prometheus can alert on (SluiceNotReady).
        let r = readiness.clone();
        metrics.gauge_fn(
            "sluice_ready",
            "1 when /ready answers 200 (started, not stopping, no component starting or failed)",
            &[],
            Arc::new(move || Some(i64::from(r.report().ready))),
        );
        ApiDeps {
            metrics,
            readiness,
            processor: Arc::new(OnceLock::new()),
            cpu: Arc::new(Semaphore::new(cores)),
            started: Instant::now(),
        }
    }

    /// Gives `/v1/normalize` the running configuration's processor.
    pub fn attach(&self, processor: CurrentProcessor) {
        let _ = self.processor.set(processor);
    }
}

/// Settings swapped whole on reload.
#[derive(Debug)]
struct Settings {
    keys: Vec<Secret>,
    metrics_require_key: bool,
    rate_limit: Option<ApiRateLimit>,
    limiter: Option<Arc<RateLimiter>>,
    limits: ApiNormalizeConfig,
}

impl Settings {
    /// Keeps `previous`'s buckets when neither the rate nor the keys changed, so a reload does
    /// not hand every client a fresh burst.
    fn load(cfg: &ApiConfig, previous: Option<&Settings>) -> Result<Self, ApiStartError> {
        let keys = load_keys(cfg).map_err(ApiStartError::Keys)?;
        let limiter = match (&cfg.rate_limit, previous) {
            (None, _) => None,
            (Some(r), Some(p)) if p.rate_limit.as_ref() == Some(r) && p.keys == keys => {
                p.limiter.clone()
            }
            (Some(r), _) => Some(Arc::new(RateLimiter::new(r))),
        };
        Ok(Settings {
            keys,
            metrics_require_key: cfg.metrics_require_key,
            rate_limit: cfg.rate_limit.clone(),
            limiter,
            limits: cfg.normalize.clone(),
        })
    }
}

/// Per-route request latency histograms, registered once.
#[derive(Debug)]
struct RouteMetrics {
    latency: Vec<(&'static str, Histogram)>,
    other: Histogram,
}

/// State shared by every request of one listener.
#[derive(Debug)]
struct Shared {
    deps: ApiDeps,
    settings: RwLock<Arc<Settings>>,
    routes: RouteMetrics,
}

impl Shared {
    fn settings(&self) -> Arc<Settings> {
        match self.settings.read() {
            Ok(s) => Arc::clone(&s),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }
}

/// A running API listener.
#[derive(Debug)]
pub struct ApiServer {
    cfg: ApiConfig,
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    stop: CancellationToken,
    join: JoinHandle<()>,
}

impl ApiServer {
    /// Reads the keys and TLS files, binds `listen`, and serves until [`ApiServer::shutdown`].
    pub async fn start(cfg: &ApiConfig, deps: ApiDeps) -> Result<Self, ApiStartError> {
        let settings = Settings::load(cfg, None)?;
        let tls = cfg
            .tls
            .as_ref()
            .map(crate::tls::server_config)
            .transpose()?;
        let tcp = tokio::net::TcpListener::bind(cfg.listen.as_str())
            .await
            .map_err(|source| ApiStartError::Bind {
                listen: cfg.listen.clone(),
                source,
            })?;
        let local_addr = tcp.local_addr().map_err(|source| ApiStartError::Bind {
            listen: cfg.listen.clone(),
            source,
        })?;
        let stop = CancellationToken::new();
        let listener = ApiListener::new(tcp, tls, stop.clone());
        let routes = RouteMetrics {
            latency: ROUTES
                .iter()
                .map(|(_, path)| (*path, request_histogram(&deps.metrics, path)))
                .collect(),
            other: request_histogram(&deps.metrics, "other"),
        };
        let shared = Arc::new(Shared {
            deps,
            settings: RwLock::new(Arc::new(settings)),
            routes,
        });
        let app = router(Arc::clone(&shared));
        let signal = stop.clone().cancelled_owned();
        let join = tokio::spawn(async move {
            let serve = axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
                .with_graceful_shutdown(signal);
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the API server failed");
            }
        });
        let s = shared.settings();
        tracing::info!(
            address = %local_addr,
            tls = cfg.tls.is_some(),
            api_keys = s.keys.len(),
            rate_limited = s.limiter.is_some(),
            "API listening"
        );
        Ok(ApiServer {
            cfg: cfg.clone(),
            shared,
            local_addr,
            stop,
            join,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Applies a reloaded `api:` section: the same listener with new keys and limits, or a new
    /// listener when `listen` or `tls` changed. Key files are read again even when the YAML did
    /// not change, so SIGHUP rotates keys. On error the old server keeps running as it was
    /// (`None` only if neither the new nor the old listener can be bound).
    pub async fn reconfigure(self, cfg: &ApiConfig) -> Option<Self> {
        if cfg.listen == self.cfg.listen && cfg.tls == self.cfg.tls {
            let previous = self.shared.settings();
            match Settings::load(cfg, Some(&previous)) {
                Ok(s) => {
                    tracing::info!(
                        api_keys = s.keys.len(),
                        rate_limited = s.limiter.is_some(),
                        "API settings reloaded"
                    );
                    let mut guard = match self.shared.settings.write() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    *guard = Arc::new(s);
                    drop(guard);
                    return Some(ApiServer {
                        cfg: cfg.clone(),
                        ..self
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "API settings not reloaded; the old ones stay");
                    return Some(self);
                }
            }
        }
        let deps = self.shared.deps.clone();
        if let Err(e) = Settings::load(cfg, None) {
            tracing::error!(error = %e, "API not restarted; the old listener stays");
            return Some(self);
        }
        // The new address may be the old one: free it first.
        let old_cfg = self.cfg.clone();
        self.shutdown().await;
        match ApiServer::start(cfg, deps.clone()).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the API with the new settings; restarting the old listener");
                match ApiServer::start(&old_cfg, deps).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        // Nothing listens now; the next successful reload starts it again.
                        tracing::error!(error = %e, "cannot restart the old API listener either");
                        None
                    }
                }
            }
        }
    }

    /// Stops accepting, lets requests in flight finish (up to 5 s), then closes.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let mut join = self.join;
        if tokio::time::timeout(Duration::from_secs(5), &mut join)
            .await
            .is_err()
        {
            join.abort();
        }
        tracing::info!(address = %self.local_addr, "API stopped");
    }
}

fn request_histogram(metrics: &Metrics, route: &str) -> Histogram {
    metrics.histogram(
        "sluice_api_request_duration_seconds",
        "Time to answer an API request, by route",
        &[("route", route)],
    )
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/normalize", post(normalize::handle))
        .route("/v1/openapi.json", get(openapi))
        .route("/", get(status::page))
        .route("/v1/status", get(status::status))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), gate))
        .with_state(shared)
}

/// Counts and times every request; checks the key and the rate limit where they apply.
async fn gate(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let path = req.uri().path();
    let route = ROUTES
        .iter()
        .find(|(_, p)| *p == path)
        .map_or("other", |(_, p)| *p);
    let settings = shared.settings();
    // The status page shows what /metrics shows, so it is open or closed with it.
    let like_metrics = matches!(route, "/metrics" | "/" | "/v1/status");
    let protected = (route.starts_with("/v1/") && !like_metrics)
        || (like_metrics && settings.metrics_require_key)
        || (route == "other" && path.starts_with("/v1/"));
    let response = match auth::check(&settings, &req, peer.0.ip(), protected) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            tracing::debug!(peer = %peer.0, route, reason = %e, "API request refused");
            e.into_response()
        }
    };
    let histogram = shared
        .routes
        .latency
        .iter()
        .find(|(p, _)| *p == route)
        .map_or(&shared.routes.other, |(_, h)| h);
    histogram.observe_duration(started.elapsed());
    shared
        .deps
        .metrics
        .counter(
            "sluice_api_requests_total",
            "API requests answered, by route and status code",
            &[("route", route), ("code", response.status().as_str())],
        )
        .inc();
    response
}

async fn health() -> Response {
    json_response(StatusCode::OK, r#"{"status":"ok"}"#.to_string())
}

async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let report = shared.deps.readiness.report();
    let components: serde_json::Map<String, serde_json::Value> = report
        .components
        .iter()
        .map(|(name, state)| {
            let s = match state {
                ComponentState::Starting => "starting",
                ComponentState::Ready => "ready",
                ComponentState::Failed(_) => "failed",
            };
            (name.clone(), serde_json::Value::from(s))
        })
        .collect();
    let body = serde_json::json!({
        "status": if report.ready { "ready" } else { "not_ready" },
        "phase": report.phase.as_str(),
        "reasons": report.reasons,
        "components": components,
    });
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, body.to_string())
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let mut r = Response::new(Body::from(shared.deps.metrics.render()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

async fn openapi() -> Response {
    json_response(StatusCode::OK, OPENAPI.to_string())
}

async fn not_found() -> Response {
    ApiError::NotFound.into_response()
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A refused request. Messages say what was wrong with the request, never a key.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")]
    MissingKey,
    #[error("invalid API key")]
    InvalidKey,
    #[error("rate limit exceeded; retry in {0} s")]
    RateLimited(u64),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("no such endpoint; see /v1/openapi.json")]
    NotFound,
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingKey | ApiError::InvalidKey => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() }).to_string();
        let mut r = json_response(self.status(), body);
        match self {
            ApiError::MissingKey | ApiError::InvalidKey => {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sluice\""),
                );
            }
            ApiError::RateLimited(secs) => {
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            _ => {}
        }
        r
    }
}

/// Starts, reconfigures or stops the API to match `cfg` (after a reload or at start).
pub async fn apply(
    current: Option<ApiServer>,
    cfg: Option<&ApiConfig>,
    deps: &ApiDeps,
) -> Option<ApiServer> {
    match (current, cfg) {
        (None, None) => None,
        (Some(s), None) => {
            s.shutdown().await;
            None
        }
        (None, Some(c)) => match ApiServer::start(c, deps.clone()).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the API");
                None
            }
        },
        (Some(s), Some(c)) => s.reconfigure(c).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> ApiConfig {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn config_problems_name_the_key() {
        let keys = |p: Vec<(String, String)>| p.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert!(config_problems(&cfg("listen: 127.0.0.1:0")).is_empty());
        assert_eq!(keys(config_problems(&cfg("listen: nowhere"))), ["listen"]);
        assert_eq!(
            keys(config_problems(&cfg(
                "listen: :8686\nrate_limit: {requests_per_second: 0, burst: 0}"
            ))),
            [
                "listen",
                "rate_limit.requests_per_second",
                "rate_limit.burst"
            ]
        );
        assert_eq!(
            keys(config_problems(&cfg(
                "listen: 127.0.0.1:1\nmetrics_require_key: true\nnormalize: {max_records: 0}"
            ))),
            ["metrics_require_key", "normalize.max_records"]
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("keys");
        std::fs::write(&f, "# only a comment\n").unwrap();
        let p = config_problems(&cfg(&format!(
            "listen: 127.0.0.1:1\napi_keys_file: {}",
            f.display()
        )));
        assert_eq!(p.len(), 1);
        assert!(p[0].1.contains("no API key"), "{p:?}");
        std::fs::write(&f, "k1\nk2\n").unwrap();
        let c = cfg(&format!(
            "listen: 127.0.0.1:1\napi_keys: [k0]\napi_keys_file: {}",
            f.display()
        ));
        assert!(config_problems(&c).is_empty());
        assert_eq!(load_keys(&c).unwrap().len(), 3);
        let missing = cfg("listen: 127.0.0.1:1\napi_keys_file: /nonexistent/keys");
        assert_eq!(keys(config_problems(&missing)), ["api_keys_file"]);
    }

    #[test]
    fn debug_output_hides_keys() {
        let c = cfg("listen: 127.0.0.1:1\napi_keys: [sup3r-secret]");
        let s = Settings::load(&c, None).unwrap();
        assert!(!format!("{c:?}{s:?}").contains("sup3r-secret"));
    }

    #[test]
    fn the_openapi_document_parses() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        for (_, path) in ROUTES {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
    }
}
