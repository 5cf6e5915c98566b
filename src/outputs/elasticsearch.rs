//! `type: elasticsearch`: records to Elasticsearch's `_bulk` API as `create` actions into data
//! streams (`logs-{event.dataset}-{namespace}` by default), with API-key or basic authentication,
//! TLS and gzip.
//!
//! The bulk answer is read item by item, because a `200` can carry per-item failures (`"errors":
//! true`) and is never taken as success on its own: items with 429 or 5xx are sent again with
//! backoff, items refused with another 4xx (mapping errors) go to the dead-letter queue with
//! Elasticsearch's error `type` and `reason`. A whole request answered 429 or 5xx is retried.

use base64::Engine;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::delivery::{self, Item, ItemOutcome, Settings, Sink};
use super::dlq::DlqHandle;
use super::http;
use super::retry::{is_transient_status, Failure};
use super::{OutputContext, OutputError};
use crate::config::{Compression, ElasticsearchOutputConfig, Secret};
use crate::event::{OutBatch, OutRecord, ProcessedBatch};

/// A parsed `index` template.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexTemplate(Vec<Part>);

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Dataset,
    Namespace,
    SourceType,
    Input,
}

impl IndexTemplate {
    pub fn parse(t: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = t;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let Some(close) = rest[open..].find('}') else {
                return Err(format!("unclosed `{{` in `{t}`"));
            };
            parts.push(match &rest[open + 1..open + close] {
                "event.dataset" => Part::Dataset,
                "namespace" => Part::Namespace,
                "source_type" => Part::SourceType,
                "input" => Part::Input,
                other => {
                    return Err(format!(
                        "unknown placeholder `{{{other}}}`: expected {{event.dataset}}, {{namespace}}, {{source_type}} or {{input}}"
                    ))
                }
            });
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        if parts.is_empty() {
            return Err("expected an index or data stream name".into());
        }
        Ok(IndexTemplate(parts))
    }

    /// The target for one record. Values are made valid in a data stream name: lower case, and
    /// `_` for the characters Elasticsearch forbids; a record without `event.dataset` goes to
    /// `generic`, as in Elastic's own agents.
    pub fn render(&self, out: &mut String, r: &OutRecord, namespace: &str, input: &str) {
        for p in &self.0 {
            let v = match p {
                Part::Lit(l) => {
                    out.push_str(l);
                    continue;
                }
                Part::Dataset => r.keys.dataset.as_deref().unwrap_or("generic"),
                Part::Namespace => namespace,
                Part::SourceType => r.source_type.as_str(),
                Part::Input => input,
            };
            out.extend(v.chars().map(|c| match c {
                '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':' | ' ' => '_',
                c => c.to_ascii_lowercase(),
            }));
        }
    }
}

struct EsSink {
    client: reqwest::Client,
    url: reqwest::Url,
    headers: HeaderMap,
    compression: Compression,
    index: IndexTemplate,
    namespace: String,
}

pub async fn run(
    cfg: ElasticsearchOutputConfig,
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
    delivery::start(EsSink::new(&cfg), rx, ctx, settings).await;
}

pub fn check(cfg: &ElasticsearchOutputConfig) -> Result<(), OutputError> {
    EsSink::new(cfg).map(|_| ())
}

impl EsSink {
    fn new(cfg: &ElasticsearchOutputConfig) -> Result<Self, OutputError> {
        let client = http::client(&http::ClientSettings {
            tls: cfg.tls.as_ref(),
            timeout: cfg.timeout,
            connect_timeout: cfg.connect_timeout,
        })?;
        let mut headers = HeaderMap::new();
        let api_key = Secret::resolve(cfg.api_key.as_ref(), cfg.api_key_file.as_deref(), "api_key")
            .map_err(OutputError::Config)?;
        let password = Secret::resolve(
            cfg.password.as_ref(),
            cfg.password_file.as_deref(),
            "password",
        )
        .map_err(OutputError::Config)?;
        let auth = match (api_key, &cfg.username, password) {
            (Some(k), _, _) => Some(format!("ApiKey {}", k.expose())),
            (None, Some(u), Some(p)) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{}", p.expose()))
            )),
            _ => None,
        };
        if let Some(a) = auth {
            let mut v = HeaderValue::from_str(&a)
                .map_err(|_| OutputError::Config("credentials: not a valid header value".into()))?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        Ok(EsSink {
            client,
            url: http::join(&cfg.endpoint, "/_bulk")?,
            headers,
            compression: cfg.compression,
            index: IndexTemplate::parse(&cfg.index)
                .map_err(|e| OutputError::Config(format!("index: {e}")))?,
            namespace: cfg.namespace.clone(),
        })
    }
}

#[derive(Deserialize)]
struct BulkReply {
    #[serde(default)]
    errors: bool,
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    status: u16,
    #[serde(default)]
    error: Option<EsError>,
}

#[derive(Deserialize)]
struct EsError {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct ErrorReply {
    error: EsErrorOrText,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EsErrorOrText {
    Obj(EsError),
    Text(String),
}

impl Sink for EsSink {
    fn encode(&self, batch: &ProcessedBatch, r: &OutRecord, out: &mut Vec<u8>) {
        let mut index = String::with_capacity(48);
        self.index
            .render(&mut index, r, &self.namespace, &batch.origin.input);
        out.extend_from_slice(b"{\"create\":{\"_index\":");
        let _ = serde_json::to_writer(&mut *out, &index);
        out.extend_from_slice(b"}}\n");
        out.extend_from_slice(batch.json(r));
        out.push(b'\n');
    }

    async fn send(&self, body: &[u8], items: &[Item]) -> Result<Vec<ItemOutcome>, Failure> {
        let r = http::post(
            &self.client,
            &self.url,
            self.headers.clone(),
            "application/x-ndjson",
            body,
            self.compression,
        )
        .await?;
        if !r.is_success() {
            let what = match serde_json::from_slice::<ErrorReply>(&r.body) {
                Ok(ErrorReply {
                    error: EsErrorOrText::Obj(e),
                }) => format!("{}: {}", e.kind, e.reason),
                Ok(ErrorReply {
                    error: EsErrorOrText::Text(t),
                }) => t,
                Err(_) => r.snippet(),
            };
            return Err(r.failure(&what));
        }
        let reply: BulkReply = serde_json::from_slice(&r.body).map_err(|e| {
            Failure::transient(format!("unreadable _bulk answer ({e}): {}", r.snippet()))
        })?;
        if reply.items.len() != items.len() {
            return Err(Failure::transient(format!(
                "_bulk answered {} items for {} sent",
                reply.items.len(),
                items.len()
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in &reply.items {
            let Some(it) = item.values().next() else {
                out.push(ItemOutcome::Retry(Failure::transient(
                    "an empty _bulk item",
                )));
                continue;
            };
            let what = || match &it.error {
                Some(e) => format!("HTTP {}: {}: {}", it.status, e.kind, e.reason),
                None => format!("HTTP {}", it.status),
            };
            out.push(if (200..300).contains(&it.status) && it.error.is_none() {
                ItemOutcome::Delivered
            } else if is_transient_status(it.status) {
                ItemOutcome::Retry(Failure::transient(what()))
            } else {
                ItemOutcome::Rejected(what())
            });
        }
        if !reply.errors && out.iter().any(|o| *o != ItemOutcome::Delivered) {
            tracing::warn!("_bulk said errors: false but some items failed; trusting the items");
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RecordKeys;

    #[test]
    fn index_templates() {
        let t = IndexTemplate::parse("logs-{event.dataset}-{namespace}").unwrap();
        let mut r = OutRecord {
            range: 0..0,
            source_type: crate::source_type::SourceType::Panos,
            timestamp: chrono::Utc::now(),
            keys: RecordKeys {
                dataset: Some("Panw.Panos".into()),
                ..Default::default()
            },
        };
        let mut s = String::new();
        t.render(&mut s, &r, "prod", "fw");
        assert_eq!(s, "logs-panw.panos-prod");
        r.keys.dataset = None;
        s.clear();
        t.render(&mut s, &r, "a b", "fw");
        assert_eq!(s, "logs-generic-a_b");
        assert!(IndexTemplate::parse("logs-{nope}").is_err());
        assert!(IndexTemplate::parse("logs-{input").is_err());
        let t = IndexTemplate::parse("sluice-{source_type}-{input}").unwrap();
        s.clear();
        t.render(&mut s, &r, "x", "FW/1");
        assert_eq!(s, "sluice-panos-fw_1");
    }
}
