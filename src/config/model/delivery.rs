//! Settings of the delivery outputs: Splunk HEC, Elasticsearch and the dead-letter queue, and the
//! retry, batching and HTTP client keys they share.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{default_output_queue, duration, WhenFull};
use crate::config::Secret;

/// `retry:` under an output: exponential backoff with full jitter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Retries after the first attempt; unset retries until `max_elapsed` (or forever).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Give up once this much time has passed since the first attempt; 0 never gives up on time.
    #[serde(default, with = "duration")]
    pub max_elapsed: Duration,
    /// The first backoff's upper bound; doubled per retry.
    #[serde(default = "default_initial_backoff", with = "duration")]
    pub initial_backoff: Duration,
    /// The backoff's upper bound never grows past this (a `Retry-After` may ask for longer).
    #[serde(default = "default_max_backoff", with = "duration")]
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: None,
            max_elapsed: Duration::ZERO,
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

fn default_initial_backoff() -> Duration {
    Duration::from_millis(100)
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}

/// `batch:` under an output: a request goes out when any limit is reached.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    #[serde(default = "default_batch_events")]
    pub max_events: usize,
    /// Uncompressed request body size.
    #[serde(default = "default_batch_bytes")]
    pub max_bytes: usize,
    /// The oldest record waits at most this long for more.
    #[serde(default = "default_batch_timeout", with = "duration")]
    pub timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: default_batch_events(),
            max_bytes: default_batch_bytes(),
            timeout: default_batch_timeout(),
        }
    }
}

fn default_batch_events() -> usize {
    1000
}

fn default_batch_bytes() -> usize {
    5 * 1024 * 1024
}

fn default_batch_timeout() -> Duration {
    Duration::from_secs(1)
}

/// Request body compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    #[default]
    Gzip,
    None,
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Declares the settings of an output that runs the shared delivery loop
/// (`outputs::delivery`): the keys of every output, the loop's own (`retry`, `batch`,
/// `concurrency`, `dlq`), then the output's.
macro_rules! delivery_output_config {
    ($(#[$meta:meta])* $name:ident { $($body:tt)* }) => {
        output_config!(
            $(#[$meta])*
            $name {
                #[serde(default)]
                pub retry: $crate::config::RetryConfig,
                #[serde(default)]
                pub batch: $crate::config::BatchConfig,
                /// Requests in flight at once (with `ack: true`, batches awaiting acknowledgement).
                #[serde(default = "default_concurrency")]
                pub concurrency: usize,
                /// A `type: dlq` output that takes the records this one cannot deliver.
                #[serde(default)]
                pub dlq: Option<String>,
                $($body)*
            }
        );
    };
}

/// Declares an HTTP output's settings: those of every delivery output, those of every HTTP
/// output (`endpoint`, `tls`, `compression`, timeouts), then its own.
macro_rules! http_output_config {
    ($(#[$meta:meta])* $name:ident { $($body:tt)* }) => {
        delivery_output_config!(
            $(#[$meta])*
            $name {
                /// Base URL: `https://host:port`.
                pub endpoint: String,
                #[serde(default)]
                pub tls: Option<crate::tls::ClientTlsConfig>,
                #[serde(default)]
                pub compression: Compression,
                /// One request, from sending to the whole answer.
                #[serde(default = "default_request_timeout", with = "duration")]
                pub timeout: Duration,
                #[serde(default = "default_connect_timeout", with = "duration")]
                pub connect_timeout: Duration,
                $($body)*
            }
        );
    };
}

http_output_config!(
    /// `type: splunk_hec`: events to Splunk's HTTP Event Collector.
    SplunkHecOutputConfig {
        /// `Authorization: Splunk <token>`; or `token_file`.
        #[serde(default)]
        pub token: Option<Secret>,
        #[serde(default)]
        pub token_file: Option<PathBuf>,
        /// Fixed `index`; unset lets the token's default index decide.
        #[serde(default)]
        pub index: Option<String>,
        /// Fixed `source`; default the record's file path, else `sluice:<input>`.
        #[serde(default)]
        pub source: Option<String>,
        /// Fixed `host` for records without `host.name`; default none (Splunk uses the sender).
        #[serde(default)]
        pub host: Option<String>,
        /// `sourcetype` per Sluice source type (`panos`, `syslog`…) or PAN-OS log type
        /// (`panos:threat`), over the built-in defaults.
        #[serde(default)]
        pub sourcetypes: BTreeMap<String, String>,
        /// Indexed fields added to every event.
        #[serde(default)]
        pub fields: BTreeMap<String, String>,
        /// Indexer acknowledgement: acknowledge upstream only once Splunk says the batch is indexed.
        #[serde(default)]
        pub ack: bool,
        #[serde(default = "default_ack_poll", with = "duration")]
        pub ack_poll_interval: Duration,
        /// A batch not acknowledged this long after it was accepted is sent again.
        #[serde(default = "default_ack_timeout", with = "duration")]
        pub ack_timeout: Duration,
        /// `X-Splunk-Request-Channel`; default a random GUID per start.
        #[serde(default)]
        pub channel: Option<String>,
    }
);

fn default_ack_poll() -> Duration {
    Duration::from_secs(1)
}

fn default_ack_timeout() -> Duration {
    Duration::from_secs(120)
}

pub(crate) fn default_concurrency() -> usize {
    2
}

http_output_config!(
    /// `type: elasticsearch`: `_bulk` `create` into data streams.
    ElasticsearchOutputConfig {
        /// `Authorization: ApiKey <key>` (the base64 `id:api_key` Elasticsearch returns as `encoded`).
        #[serde(default)]
        pub api_key: Option<Secret>,
        #[serde(default)]
        pub api_key_file: Option<PathBuf>,
        /// Basic authentication.
        #[serde(default)]
        pub username: Option<String>,
        #[serde(default)]
        pub password: Option<Secret>,
        #[serde(default)]
        pub password_file: Option<PathBuf>,
        /// Target template: `{event.dataset}`, `{namespace}`, `{source_type}`, `{input}`.
        #[serde(default = "default_es_index")]
        pub index: String,
        #[serde(default = "default_namespace")]
        pub namespace: String,
    }
);

fn default_es_index() -> String {
    "logs-{event.dataset}-{namespace}".into()
}

fn default_namespace() -> String {
    "default".into()
}

/// `type: dlq`: the dead-letter queue. Its `inputs` may be empty: records reach it from the
/// outputs that name it in `dlq:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqOutputConfig {
    #[serde(default)]
    pub inputs: Vec<String>,
    #[serde(default)]
    pub when_full: WhenFull,
    #[serde(default = "default_output_queue")]
    pub queue_batches: usize,
    /// Directory of `dlq-<n>.ndjson` files.
    pub path: PathBuf,
    /// Start a new file past this size.
    #[serde(default = "default_dlq_file_bytes")]
    pub max_file_bytes: u64,
    /// All files together; when full, parking fails (the record stays undelivered, counted).
    #[serde(default = "default_dlq_bytes")]
    pub max_bytes: u64,
    /// fsync before a parked record counts as accepted.
    #[serde(default = "default_true")]
    pub fsync: bool,
}

fn default_dlq_file_bytes() -> u64 {
    64 * 1024 * 1024
}

fn default_dlq_bytes() -> u64 {
    1024 * 1024 * 1024
}

fn default_true() -> bool {
    true
}

impl SplunkHecOutputConfig {
    /// Problems serde cannot see, as (key under the output, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = http_problems(&self.endpoint);
        p.extend(delivery_problems(
            &self.retry,
            &self.batch,
            self.concurrency,
        ));
        if self.token.is_some() == self.token_file.is_some() {
            p.push((
                "token",
                "set exactly one of `token` and `token_file`".into(),
            ));
        }
        if let Some(c) = &self.channel {
            if uuid_like(c).is_none() {
                p.push((
                    "channel",
                    "expected a GUID such as `0aecab42-60c9-4d4b-9f5c-2e5bd3c4e7a1`".into(),
                ));
            }
        }
        p
    }
}

impl ElasticsearchOutputConfig {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = http_problems(&self.endpoint);
        p.extend(delivery_problems(
            &self.retry,
            &self.batch,
            self.concurrency,
        ));
        if self.api_key.is_some() && self.api_key_file.is_some() {
            p.push((
                "api_key",
                "set `api_key` or `api_key_file`, not both".into(),
            ));
        }
        if self.password.is_some() && self.password_file.is_some() {
            p.push((
                "password",
                "set `password` or `password_file`, not both".into(),
            ));
        }
        let has_password = self.password.is_some() || self.password_file.is_some();
        if self.username.is_some() != has_password {
            p.push((
                "username",
                "basic authentication needs `username` and `password` (or `password_file`)".into(),
            ));
        }
        if let Err(e) = crate::outputs::elasticsearch::IndexTemplate::parse(&self.index) {
            p.push(("index", e));
        }
        p
    }
}

impl DlqOutputConfig {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if self.path.as_os_str().is_empty() {
            p.push(("path", "expected a directory".into()));
        }
        if self.max_file_bytes == 0 || self.max_bytes < self.max_file_bytes {
            p.push((
                "max_bytes",
                "expected max_file_bytes > 0 and max_bytes >= max_file_bytes".into(),
            ));
        }
        p
    }
}

fn http_problems(endpoint: &str) -> Vec<(&'static str, String)> {
    match reqwest::Url::parse(endpoint) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Vec::new(),
        _ => vec![(
            "endpoint",
            format!("expected a URL such as `https://splunk.example:8088`, found `{endpoint}`"),
        )],
    }
}

/// Problems of the keys every delivery output has (`retry`, `batch`, `concurrency`).
pub(crate) fn delivery_problems(
    retry: &RetryConfig,
    batch: &BatchConfig,
    concurrency: usize,
) -> Vec<(&'static str, String)> {
    let mut p = Vec::new();
    if batch.max_events == 0 {
        p.push(("batch.max_events", "expected at least 1".into()));
    }
    if batch.max_bytes < 1024 {
        p.push(("batch.max_bytes", "expected at least 1024".into()));
    }
    if retry.initial_backoff.is_zero() || retry.max_backoff < retry.initial_backoff {
        p.push((
            "retry.initial_backoff",
            "expected 0 < initial_backoff <= max_backoff".into(),
        ));
    }
    if concurrency == 0 {
        p.push(("concurrency", "expected at least 1".into()));
    }
    p
}

/// `s` if it has the 8-4-4-4-12 hex form of a GUID.
pub fn uuid_like(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let ok = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    ok.then_some(s)
}
