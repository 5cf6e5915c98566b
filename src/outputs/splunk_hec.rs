//! `type: splunk_hec`: batches of events to Splunk's HTTP Event Collector, following its published
//! API: `POST /services/collector/event` with JSON event objects one after another (`time`, `host`,
//! `source`, `sourcetype`, `index`, `fields`, `event`), `Authorization: Splunk <token>`, a request
//! channel (`X-Splunk-Request-Channel`), gzip; with `ack: true`, the `ackId` of each accepted
//! request is polled at `POST /services/collector/ack` and the records are acknowledged upstream
//! only once Splunk reports them indexed (not within `ack_timeout`: sent again).
//!
//! Answers: `200 {"code":0}` is success; `400` with `invalid-event-number` parks that event and
//! sends the others again (Splunk may have indexed those before it, so they can arrive twice:
//! at-least-once); other 400s park the request; 401/403 (token), 429, 5xx (`9` busy, `18` queues
//! full) and network errors are retried.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::delivery::{self, Item, ItemOutcome, Settings, Sink};
use super::dlq::DlqHandle;
use super::http;
use super::retry::Failure;
use super::{OutputContext, OutputError};
use crate::config::{Compression, Secret, SplunkHecOutputConfig};
use crate::event::{OutBatch, OutRecord, ProcessedBatch};
use crate::source_type::SourceType;

const CHANNEL_HEADER: &str = "x-splunk-request-channel";

/// The `sourcetype` Sluice sends for a record unless `sourcetypes` overrides it: the Splunk
/// add-ons' names (PAN-OS per log type, CloudTrail, Windows XML events, syslog), `_json` for
/// records of unknown type, and a rule-defined type's own name.
pub fn default_sourcetype(t: &SourceType, panos_type: Option<&str>) -> String {
    match t {
        SourceType::Panos => {
            let lt = panos_type.unwrap_or("").to_ascii_lowercase();
            match lt.as_str() {
                "traffic" | "threat" | "system" | "config" | "hipmatch" | "globalprotect"
                | "userid" | "decryption" | "correlation" | "authentication" | "tunnel" | "gtp"
                | "sctp" | "iptag" | "audit" => format!("pan:{lt}"),
                _ => "pan:log".into(),
            }
        }
        SourceType::Cloudtrail => "aws:cloudtrail".into(),
        SourceType::Windows => "XmlWinEventLog".into(),
        SourceType::Syslog => "syslog".into(),
        SourceType::Unknown => "_json".into(),
        SourceType::Other(name) => name.to_string(),
    }
}

struct HecSink {
    client: reqwest::Client,
    event_url: reqwest::Url,
    ack_url: reqwest::Url,
    headers: HeaderMap,
    compression: Compression,
    ack: bool,
    ack_poll: Duration,
    ack_timeout: Duration,
    index: Option<String>,
    source: Option<String>,
    host: Option<String>,
    sourcetypes: BTreeMap<String, String>,
    /// `fields`, serialized once.
    fields: Option<String>,
}

pub async fn run(
    cfg: SplunkHecOutputConfig,
    rx: mpsc::Receiver<OutBatch>,
    ctx: OutputContext,
    dlq: Option<DlqHandle>,
) {
    let settings = Settings {
        batch: cfg.batch.clone(),
        retry: cfg.retry.clone(),
        concurrency: cfg.concurrency,
        dlq,
    };
    delivery::start(HecSink::new(&cfg), rx, ctx, settings).await;
}

/// Checks what can fail before the first request (token file, certificates, URLs).
pub fn check(cfg: &SplunkHecOutputConfig) -> Result<(), OutputError> {
    HecSink::new(cfg).map(|_| ())
}

impl HecSink {
    fn new(cfg: &SplunkHecOutputConfig) -> Result<Self, OutputError> {
        let client = http::client(&http::ClientSettings {
            tls: cfg.tls.as_ref(),
            timeout: cfg.timeout,
            connect_timeout: cfg.connect_timeout,
        })?;
        let token = Secret::resolve(cfg.token.as_ref(), cfg.token_file.as_deref(), "token")
            .map_err(OutputError::Config)?
            .ok_or_else(|| OutputError::Config("token: required".into()))?;
        let mut auth = HeaderValue::from_str(&format!("Splunk {}", token.expose()))
            .map_err(|_| OutputError::Config("token: not a valid header value".into()))?;
        auth.set_sensitive(true);
        let channel = match &cfg.channel {
            Some(c) => c.clone(),
            None => http::random_guid(&mut fastrand::Rng::new()),
        };
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            HeaderName::from_static(CHANNEL_HEADER),
            HeaderValue::from_str(&channel)
                .map_err(|_| OutputError::Config("channel: not a valid header value".into()))?,
        );
        let fields = if cfg.fields.is_empty() {
            None
        } else {
            serde_json::to_string(&cfg.fields).ok()
        };
        Ok(HecSink {
            client,
            event_url: http::join(&cfg.endpoint, "/services/collector/event")?,
            ack_url: http::join(&cfg.endpoint, "/services/collector/ack")?,
            headers,
            compression: cfg.compression,
            ack: cfg.ack,
            ack_poll: cfg.ack_poll_interval,
            ack_timeout: cfg.ack_timeout,
            index: cfg.index.clone(),
            source: cfg.source.clone(),
            host: cfg.host.clone(),
            sourcetypes: cfg.sourcetypes.clone(),
            fields,
        })
    }

    fn sourcetype(&self, r: &OutRecord) -> String {
        let lt = r.keys.log_type.as_deref();
        if let SourceType::Panos = r.source_type {
            if let Some(lt) = lt {
                let key = format!("panos:{}", lt.to_ascii_lowercase());
                if let Some(s) = self.sourcetypes.get(&key) {
                    return s.clone();
                }
            }
        }
        match self.sourcetypes.get(r.source_type.as_str()) {
            Some(s) => s.clone(),
            None => default_sourcetype(&r.source_type, lt),
        }
    }

    /// Waits until Splunk says `id` is indexed; `Err` means send the request again.
    async fn wait_indexed(&self, id: u64) -> Result<(), Failure> {
        #[derive(Deserialize)]
        struct Acks {
            acks: BTreeMap<String, bool>,
        }
        let body = format!("{{\"acks\":[{id}]}}");
        let until = Instant::now() + self.ack_timeout;
        let mut last = String::from("no answer yet");
        while Instant::now() < until {
            tokio::time::sleep(self.ack_poll).await;
            match http::post(
                &self.client,
                &self.ack_url,
                self.headers.clone(),
                "application/json",
                body.as_bytes(),
                Compression::None,
            )
            .await
            {
                Ok(r) if r.is_success() => match serde_json::from_slice::<Acks>(&r.body) {
                    Ok(a) if a.acks.get(&id.to_string()) == Some(&true) => return Ok(()),
                    Ok(_) => last = "not indexed yet".into(),
                    Err(e) => last = format!("unreadable ack answer: {e}"),
                },
                Ok(r) => last = format!("HTTP {}: {}", r.status, r.snippet()),
                Err(f) => last = f.to_string(),
            }
        }
        Err(Failure::transient(format!(
            "ackId {id} not acknowledged within {:?} ({last}); sending again",
            self.ack_timeout
        )))
    }
}

/// Splunk's answer body.
#[derive(Debug, Deserialize)]
struct HecReply {
    #[serde(default)]
    text: String,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default, rename = "ackId")]
    ack_id: Option<u64>,
    #[serde(default, rename = "invalid-event-number")]
    invalid_event: Option<usize>,
}

impl Sink for HecSink {
    fn encode(&self, batch: &ProcessedBatch, r: &OutRecord, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"time\":");
        let ms = r.timestamp.timestamp_millis();
        let mut buf = itoa::Buffer::new();
        out.extend_from_slice(buf.format(ms.div_euclid(1000)).as_bytes());
        let frac = ms.rem_euclid(1000);
        out.push(b'.');
        out.extend_from_slice(format!("{frac:03}").as_bytes());
        let put = |out: &mut Vec<u8>, key: &str, v: &str| {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            let _ = serde_json::to_writer(&mut *out, v);
        };
        if let Some(h) = r.keys.host.as_deref().or(self.host.as_deref()) {
            put(out, "host", h);
        }
        match (&self.source, &batch.origin.file) {
            (Some(s), _) => put(out, "source", s),
            (None, Some(f)) => put(out, "source", f),
            (None, None) => put(out, "source", &format!("sluice:{}", batch.origin.input)),
        }
        put(out, "sourcetype", &self.sourcetype(r));
        if let Some(i) = &self.index {
            put(out, "index", i);
        }
        if let Some(f) = &self.fields {
            out.extend_from_slice(b",\"fields\":");
            out.extend_from_slice(f.as_bytes());
        }
        out.extend_from_slice(b",\"event\":");
        out.extend_from_slice(batch.json(r));
        out.extend_from_slice(b"}\n");
    }

    async fn send(&self, body: &[u8], items: &[Item]) -> Result<Vec<ItemOutcome>, Failure> {
        let r = http::post(
            &self.client,
            &self.event_url,
            self.headers.clone(),
            "application/json",
            body,
            self.compression,
        )
        .await?;
        let reply: Option<HecReply> = serde_json::from_slice(&r.body).ok();
        let what = match &reply {
            Some(h) => format!("HEC code {}: {}", h.code.unwrap_or(-1), h.text),
            None => r.snippet(),
        };
        if r.is_success() {
            if self.ack {
                match reply.as_ref().and_then(|h| h.ack_id) {
                    Some(id) => self.wait_indexed(id).await?,
                    None => tracing::warn!(
                        "ack: true but Splunk returned no ackId (indexer acknowledgement off for the token?); treating the request as delivered"
                    ),
                }
            }
            return Ok(vec![ItemOutcome::Delivered; items.len()]);
        }
        if r.status == 400 {
            if let Some(n) = reply.as_ref().and_then(|h| h.invalid_event) {
                if n < items.len() {
                    let again = Failure::transient(format!(
                        "sent again: event {n} of the request was refused ({what})"
                    ));
                    return Ok((0..items.len())
                        .map(|i| {
                            if i == n {
                                ItemOutcome::Rejected(what.clone())
                            } else {
                                ItemOutcome::Retry(again.clone())
                            }
                        })
                        .collect());
                }
            }
        }
        Err(r.failure(&what))
    }
}
