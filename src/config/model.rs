//! The YAML configuration model. Every struct rejects unknown keys so that a typo is an error with
//! a suggestion, not a silently ignored setting.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where checkpoints and buffers live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub api: Option<ApiConfig>,
    #[serde(default)]
    pub inputs: BTreeMap<String, InputConfig>,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub outputs: BTreeMap<String, OutputConfig>,
    /// Per-record routing, tried in order after normalization (in addition to outputs' `inputs:`).
    #[serde(default)]
    pub routes: Vec<super::RouteConfig>,
    /// The output for records that neither a route nor an output's `inputs:` takes; without one
    /// they are dropped and counted (`sluice_dropped_records_total{reason="unrouted"}`).
    #[serde(default)]
    pub unrouted: Option<String>,
    #[serde(default)]
    pub log: LogConfig,
    /// How long shutdown waits for in-flight batches before giving up on them.
    #[serde(default = "default_shutdown_timeout", with = "duration")]
    pub shutdown_timeout: Duration,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}

fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(30)
}

/// The HTTP API server: `/health`, `/ready`, `/metrics`, `/v1/normalize`, `/v1/openapi.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// `host:port`; port 0 lets the OS choose (the address is logged).
    pub listen: String,
    #[serde(default)]
    pub tls: Option<crate::tls::TlsConfig>,
    /// Keys accepted on `/v1/*` (`Authorization: Bearer <key>` or `X-API-Key: <key>`). With no key
    /// configured here or in `api_keys_file`, `/v1/*` is open.
    #[serde(default)]
    pub api_keys: Vec<super::Secret>,
    /// One key per line, `#` comments; read at start and on every reload (SIGHUP).
    #[serde(default)]
    pub api_keys_file: Option<PathBuf>,
    /// Ask for a key on `/metrics` too (when keys are configured).
    #[serde(default)]
    pub metrics_require_key: bool,
    /// A token bucket per key (per client address when no keys are configured) on `/v1/*`.
    #[serde(default)]
    pub rate_limit: Option<ApiRateLimit>,
    #[serde(default)]
    pub normalize: ApiNormalizeConfig,
}

/// `api.rate_limit`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRateLimit {
    /// Tokens added per second.
    pub requests_per_second: f64,
    /// Bucket size: requests allowed at once after a quiet period; default one second's worth.
    #[serde(default)]
    pub burst: Option<u32>,
}

/// `api.normalize`: limits of `POST /v1/normalize`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiNormalizeConfig {
    /// More records in one request are answered 413.
    #[serde(default = "default_api_max_records")]
    pub max_records: usize,
    /// Larger bodies, before or after gzip decompression, are answered 413.
    #[serde(default = "default_api_max_body")]
    pub max_body_bytes: usize,
}

impl Default for ApiNormalizeConfig {
    fn default() -> Self {
        ApiNormalizeConfig {
            max_records: default_api_max_records(),
            max_body_bytes: default_api_max_body(),
        }
    }
}

fn default_api_max_records() -> usize {
    10_000
}

fn default_api_max_body() -> usize {
    10 * 1024 * 1024
}

/// An input: named map entry with a `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputConfig {
    File(FileInputConfig),
    Stdin(StdinInputConfig),
    Evtx(EvtxInputConfig),
    Syslog(SyslogInputConfig),
    Http(HttpInputConfig),
    SplunkHec(SplunkHecInputConfig),
    Kafka(KafkaInputConfig),
}

/// Where a file input starts in a file it has no checkpoint for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    Beginning,
    #[default]
    End,
}

/// How bytes are cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// One record per line.
    #[default]
    Lines,
    /// Whole JSON values, which may span lines (CloudTrail `Records` files, pretty-printed JSON).
    JsonDocument,
    /// Windows `<Event>…</Event>` elements, which may span lines; text between them is skipped
    /// (`evtx_dump` renderings, XML exports).
    XmlEvents,
    /// Records that span lines: a line that starts with a timestamp starts a record and the lines
    /// after it continue it (stack traces, the Windows text rendering `LogName=…`).
    Multiline,
    /// Chosen per file from its first bytes: JSON documents, XML events, or lines.
    Auto,
    /// Kubernetes container logs in the CRI format (`<time> stdout|stderr P|F <message>`): the
    /// prefix is removed, `P` parts are joined, and the stream and time go along as fields.
    Cri,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInputConfig {
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    #[serde(default)]
    pub read_from: ReadFrom,
    #[serde(default)]
    pub framing: Framing,
    /// Longer records are cut to this size, tagged and counted.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// A last line without a newline is emitted after this much quiet.
    #[serde(default = "default_partial_timeout", with = "duration")]
    pub partial_line_timeout: Duration,
    /// How often to look for new files and appends when idle.
    #[serde(default = "default_poll_interval", with = "duration")]
    pub poll_interval: Duration,
    /// Skip detection: every record is this source type.
    #[serde(default)]
    pub source_type: Option<String>,
    /// End the input once every matched file is read to its end and delivered (batch jobs, the
    /// quick start). Like Fluent Bit's `Exit_On_Eof`.
    #[serde(default)]
    pub exit_on_eof: bool,
}

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

fn default_partial_timeout() -> Duration {
    Duration::from_secs(1)
}

fn default_poll_interval() -> Duration {
    Duration::from_millis(250)
}

/// Windows `.evtx` files, read record by record.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvtxInputConfig {
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// For files without a checkpoint at start-up: all records, or only those added later.
    #[serde(default = "default_read_from_beginning")]
    pub read_from: ReadFrom,
    /// How often to look for new files and new records.
    #[serde(default = "default_evtx_poll", with = "duration")]
    pub poll_interval: Duration,
    #[serde(default)]
    pub exit_on_eof: bool,
}

fn default_read_from_beginning() -> ReadFrom {
    ReadFrom::Beginning
}

fn default_evtx_poll() -> Duration {
    Duration::from_secs(2)
}

/// `type: syslog`: syslog messages over the network or a local socket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogInputConfig {
    pub mode: SyslogMode,
    /// `host:port` for `udp` and `tcp` (port 0 lets the OS choose; the address is logged), a
    /// socket path for `unix` and `unix_datagram`.
    pub listen: String,
    /// TLS on `tcp` (RFC 5425).
    #[serde(default)]
    pub tls: Option<crate::tls::TlsConfig>,
    /// How messages are cut out of a stream; `auto` decides per message.
    #[serde(default)]
    pub framing: SyslogFraming,
    /// Longer messages are cut to this size, tagged and counted.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Stream connections beyond this are closed at once (and counted).
    #[serde(default = "default_syslog_max_connections")]
    pub max_connections: usize,
    /// A stream connection silent this long is closed; 0 never closes one.
    #[serde(default = "default_idle_timeout", with = "duration")]
    pub idle_timeout: Duration,
    /// How long a record may wait for its batch to fill (`pipeline.batch_size`) before the batch
    /// goes anyway: the latency a quiet sender sees, against fewer, larger batches under load.
    #[serde(default = "default_syslog_batch_timeout", with = "duration")]
    pub batch_timeout: Duration,
    /// Kernel receive buffer (SO_RCVBUF) of datagram sockets, which absorbs bursts; default
    /// 4 MiB, capped by the kernel at `net.core.rmem_max`.
    #[serde(default)]
    pub receive_buffer_bytes: Option<usize>,
    /// Skip detection: every record is this source type.
    #[serde(default)]
    pub source_type: Option<String>,
}

impl SyslogInputConfig {
    /// Problems serde cannot see, as (key under the input, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        match self.mode {
            SyslogMode::Udp | SyslogMode::Tcp => {
                let port = self
                    .listen
                    .rsplit_once(':')
                    .map(|(h, p)| (h, p.parse::<u16>()));
                if !matches!(port, Some((h, Ok(_))) if !h.is_empty()) {
                    p.push((
                        "listen",
                        format!(
                            "expected `host:port` such as `0.0.0.0:514` or `[::]:6514`, found `{}`",
                            self.listen
                        ),
                    ));
                }
            }
            SyslogMode::Unix | SyslogMode::UnixDatagram => {
                if self.listen.trim().is_empty() {
                    p.push(("listen", "expected a socket path".into()));
                }
            }
        }
        if self.tls.is_some() && self.mode != SyslogMode::Tcp {
            p.push(("tls", "TLS needs `mode: tcp`".into()));
        }
        if self.receive_buffer_bytes.is_some()
            && !matches!(self.mode, SyslogMode::Udp | SyslogMode::UnixDatagram)
        {
            p.push((
                "receive_buffer_bytes",
                "applies to `mode: udp` and `mode: unix_datagram` only".into(),
            ));
        }
        if self.max_message_bytes < 16 {
            p.push(("max_message_bytes", "expected at least 16".into()));
        }
        if self.max_connections == 0 {
            p.push(("max_connections", "expected at least 1".into()));
        }
        p
    }
}

/// The socket a syslog input listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogMode {
    /// One datagram is one message.
    Udp,
    /// A stream of framed messages, with `tls` optionally.
    Tcp,
    /// A unix stream socket, framed like `tcp`.
    Unix,
    /// A unix datagram socket (like `/dev/log`).
    UnixDatagram,
}

/// Framing on syslog streams (RFC 6587).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFraming {
    /// Per message: octet counting when it starts with `<count> <`, else up to LF or NUL.
    #[default]
    Auto,
    /// Every message is `<count> <bytes>`; a bad count falls back to one line.
    OctetCounting,
    /// Every message runs to the next LF or NUL.
    NonTransparent,
}

fn default_max_message_bytes() -> usize {
    64 * 1024
}

fn default_syslog_max_connections() -> usize {
    1000
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(300)
}

/// 1 ms: under load a batch is mostly closed by this wait, not by `batch_size`, and the wait
/// and the batch's processing are both in every record's latency (W3 in the README: p99 about
/// 2.5 ms lower than with 2 ms, for no measurable CPU).
fn default_syslog_batch_timeout() -> Duration {
    Duration::from_millis(1)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdinInputConfig {
    #[serde(default)]
    pub framing: Framing,
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    #[serde(default)]
    pub source_type: Option<String>,
}

/// `type: http`: records POSTed as NDJSON, a JSON array or text lines.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpInputConfig {
    /// `host:port`; port 0 lets the OS choose (the address is logged).
    pub listen: String,
    #[serde(default)]
    pub tls: Option<crate::tls::TlsConfig>,
    /// The URL path that takes records.
    #[serde(default = "default_http_path")]
    pub path: String,
    /// `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<super::Secret>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// `X-API-Key: <key>`, any of these.
    #[serde(default)]
    pub api_keys: Vec<super::Secret>,
    /// One key per line; `#` comments.
    #[serde(default)]
    pub api_keys_file: Option<PathBuf>,
    /// Larger bodies, before or after gzip decompression, are answered 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// When to answer 200: once queued, or once every output acknowledged.
    #[serde(default)]
    pub ack: HttpAck,
    /// How long `ack: delivered` waits before answering 504.
    #[serde(default = "default_http_ack_timeout", with = "duration")]
    pub timeout: Duration,
    /// Connections beyond this are closed at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Skip detection: every record is this source type.
    #[serde(default)]
    pub source_type: Option<String>,
}

/// When an HTTP input answers success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HttpAck {
    /// Once the records are queued for the processors.
    #[default]
    Accepted,
    /// Once every output the records go to has accepted them.
    Delivered,
}

fn default_http_path() -> String {
    "/".into()
}

fn default_max_body_bytes() -> usize {
    10 * 1024 * 1024
}

fn default_http_ack_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_max_connections() -> usize {
    1024
}

/// `type: splunk_hec`: the Splunk HTTP Event Collector API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplunkHecInputConfig {
    /// `host:port`; port 0 lets the OS choose (the address is logged).
    pub listen: String,
    #[serde(default)]
    pub tls: Option<crate::tls::TlsConfig>,
    /// `Authorization: Splunk <token>`; `token`, `token_file`, `tokens` and `tokens_file` add up.
    #[serde(default)]
    pub token: Option<super::Secret>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub tokens: Vec<super::Secret>,
    /// One token per line; `#` comments.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
    /// Accept `?token=` in the URL (Splunk's `allowQueryStringAuth`); off, as in Splunk.
    #[serde(default)]
    pub allow_query_string_auth: bool,
    /// Indexer acknowledgement: channels required, `ackId` in responses, `/services/collector/ack`.
    #[serde(default)]
    pub ack: bool,
    /// A channel unused this long is forgotten with its unqueried acknowledgements.
    #[serde(default = "default_hec_channel_idle", with = "duration")]
    pub ack_idle_timeout: Duration,
    /// Acknowledgements not yet queried, over all channels; beyond it requests are answered busy.
    #[serde(default = "default_hec_max_pending_acks")]
    pub max_pending_acks: usize,
    /// Allowed `index` values; empty allows any (Splunk's per-token index list).
    #[serde(default)]
    pub indexes: Vec<String>,
    /// What becomes the record: the `event` value, or the whole envelope with its metadata.
    #[serde(default)]
    pub record: HecRecord,
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Skip detection: every record is this source type.
    #[serde(default)]
    pub source_type: Option<String>,
}

/// What a HEC event becomes in the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HecRecord {
    /// The `event` value: a string as it is, anything else as compact JSON. Detection sees the
    /// payload; `host`, `source`, `sourcetype`, `index`, `fields` and `time` are not kept.
    #[default]
    Event,
    /// The whole event object as compact JSON: metadata kept, detection sees a HEC envelope.
    Envelope,
}

fn default_hec_channel_idle() -> Duration {
    Duration::from_secs(600)
}

fn default_hec_max_pending_acks() -> usize {
    100_000
}

/// Processing settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Processor threads; 0 means one per core.
    #[serde(default)]
    pub threads: usize,
    /// Records per batch read by inputs.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Batches waiting for the processors.
    #[serde(default = "default_queue_batches")]
    pub queue_batches: usize,
    #[serde(default)]
    pub detect: DetectConfig,
    #[serde(default)]
    pub normalize: NormalizeConfig,
    /// Overrides for the parser data (`panos/*.yaml`, `windows/*.yaml`); the built-in copies of
    /// `parsers/` are used otherwise.
    #[serde(default)]
    pub parsers_dir: Option<PathBuf>,
    /// GeoIP, threat lists, asset and user context, reverse DNS.
    #[serde(default)]
    pub enrich: super::EnrichConfig,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            parsers_dir: None,
            enrich: super::EnrichConfig::default(),
            threads: 0,
            batch_size: default_batch_size(),
            queue_batches: default_queue_batches(),
            detect: DetectConfig::default(),
            normalize: NormalizeConfig::default(),
        }
    }
}

fn default_batch_size() -> usize {
    512
}

fn default_queue_batches() -> usize {
    16
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Below this confidence a record is `unknown`.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f32,
    /// Extra or overriding detection rules.
    #[serde(default)]
    pub rules_dir: Option<PathBuf>,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            min_confidence: default_min_confidence(),
            rules_dir: None,
        }
    }
}

fn default_min_confidence() -> f32 {
    0.5
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalizeConfig {
    /// Zone for timestamps without one (RFC 3164, PAN-OS): an IANA name or `UTC`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Keep the raw record in `event.original`.
    #[serde(default = "default_true")]
    pub keep_original: bool,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            timezone: default_timezone(),
            keep_original: true,
        }
    }
}

fn default_timezone() -> String {
    "UTC".into()
}

fn default_true() -> bool {
    true
}

/// What an output does when its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait: backpressure reaches the inputs.
    #[default]
    Block,
    /// Drop the incoming batch and count it.
    DropNewest,
}

/// Declares an output's settings struct with the keys every output shares (`inputs`, `when_full`,
/// `queue_batches`). A macro rather than `#[serde(flatten)]`, which would disable
/// `deny_unknown_fields` and so the typo errors.
macro_rules! output_config {
    ($(#[$meta:meta])* $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Inputs whose records this output receives, all of them, whatever `routes:` says.
            #[serde(default)]
            pub inputs: Vec<String>,
            #[serde(default)]
            pub when_full: WhenFull,
            /// Batches queued for this output.
            #[serde(default = "default_output_queue")]
            pub queue_batches: usize,
            /// `memory` (default) or `disk`.
            #[serde(default)]
            pub buffer: $crate::config::BufferConfig,
            $($body)*
        }
    };
}

fn default_output_queue() -> usize {
    8
}

#[macro_use]
mod delivery;
pub use delivery::*;

/// An output: named map entry with a `type`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputConfig {
    File(FileOutputConfig),
    Stdout(StdoutOutputConfig),
    SplunkHec(SplunkHecOutputConfig),
    Elasticsearch(ElasticsearchOutputConfig),
    Dlq(DlqOutputConfig),
    /// Boxed: its librdkafka settings make it several times larger than the other outputs.
    Kafka(Box<KafkaOutputConfig>),
}

/// The settings every output has.
#[derive(Debug, Clone, Copy)]
pub struct OutputCommon<'a> {
    pub inputs: &'a [String],
    pub when_full: WhenFull,
    pub queue_batches: usize,
    pub buffer: &'a super::BufferConfig,
}

impl OutputConfig {
    pub fn type_name(&self) -> &'static str {
        match self {
            OutputConfig::File(_) => "file",
            OutputConfig::Stdout(_) => "stdout",
            OutputConfig::SplunkHec(_) => "splunk_hec",
            OutputConfig::Elasticsearch(_) => "elasticsearch",
            OutputConfig::Dlq(_) => "dlq",
            OutputConfig::Kafka(_) => "kafka",
        }
    }

    pub fn common(&self) -> OutputCommon<'_> {
        macro_rules! common {
            ($c:expr) => {
                OutputCommon {
                    inputs: &$c.inputs,
                    when_full: $c.when_full,
                    queue_batches: $c.queue_batches,
                    buffer: &$c.buffer,
                }
            };
        }
        match self {
            OutputConfig::File(c) => common!(c),
            OutputConfig::Stdout(c) => common!(c),
            OutputConfig::SplunkHec(c) => common!(c),
            OutputConfig::Elasticsearch(c) => common!(c),
            OutputConfig::Kafka(c) => common!(c),
            // A dead-letter queue writes local files: always a memory queue in front.
            OutputConfig::Dlq(c) => OutputCommon {
                inputs: &c.inputs,
                when_full: c.when_full,
                queue_batches: c.queue_batches,
                buffer: &crate::config::BufferConfig::Memory,
            },
        }
    }

    /// The `type: dlq` output this one parks undeliverable records in.
    pub fn dlq(&self) -> Option<&str> {
        match self {
            OutputConfig::SplunkHec(c) => c.dlq.as_deref(),
            OutputConfig::Elasticsearch(c) => c.dlq.as_deref(),
            OutputConfig::Kafka(c) => c.dlq.as_deref(),
            _ => None,
        }
    }
}

output_config!(
    /// NDJSON files.
    FileOutputConfig {
        /// Path template: `{input}`, `{source_type}`, and strftime fields such as `%Y-%m-%d`.
        pub path: String,
        /// Rotate to `<path>.N` when a file reaches this size; 0 never rotates.
        #[serde(default = "default_rotate_bytes")]
        pub max_bytes: u64,
        /// fsync after each batch, before acknowledging.
        #[serde(default)]
        pub fsync: bool,
    }
);

fn default_rotate_bytes() -> u64 {
    256 * 1024 * 1024
}

output_config!(
    /// NDJSON on standard output.
    StdoutOutputConfig {}
);

/// Sluice's own logs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default = "default_log_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_log_level(),
            format: LogFormat::Text,
        }
    }
}

fn default_log_level() -> String {
    "info".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Durations as `250ms`, `5s`, `2m`, `1h`, or a number of seconds.
pub mod duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) if s >= 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
            Raw::Secs(s) => Err(serde::de::Error::custom(format!(
                "expected a non-negative duration, found {s}"
            ))),
            Raw::Text(t) => parse(&t).map_err(serde::de::Error::custom),
        }
    }

    pub fn parse(t: &str) -> Result<Duration, String> {
        let t = t.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("expected a duration like `500ms`, `5s` or `2m`, found `{t}`"))?;
        let secs = match unit.trim() {
            "ms" => n / 1000.0,
            "" | "s" => n,
            "m" => n * 60.0,
            "h" => n * 3600.0,
            other => {
                return Err(format!(
                    "unknown duration unit `{other}` in `{t}`: use ms, s, m or h"
                ))
            }
        };
        Ok(Duration::from_secs_f64(secs))
    }
}

// After `output_config!`, whose textual scope the module needs.
mod kafka;
pub use kafka::*;
