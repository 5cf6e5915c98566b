//! The CPU stage: turns a raw batch into a processed batch of ECS NDJSON.
//!
//! Runs on the processor threads. One `Doc` and one output buffer are reused for every record of a
//! batch, so the per-record cost is the fields themselves, not the scaffolding.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::PipelineConfig;
use crate::doc::{Doc, Value};
use crate::event::{OutRecord, ProcessedBatch, RawBatch};
use crate::metrics::{Counter, Metrics};
use crate::normalize::Context;
use crate::source_type::SourceType;

/// The ECS version Sluice writes.
pub const ECS_VERSION: &str = "8.17.0";

/// Detection and normalization settings, rebuilt on reload and shared read-only by all threads.
#[derive(Debug)]
pub struct Processor {
    timezone: Tz,
    keep_original: bool,
    counters: ProcessorCounters,
}

#[derive(Debug, Clone)]
struct ProcessorCounters {
    truncated: Counter,
    metrics: Metrics,
}

impl Processor {
    pub fn new(cfg: &PipelineConfig, metrics: &Metrics) -> Result<Self, ProcessorError> {
        let timezone: Tz = cfg
            .normalize
            .timezone
            .parse()
            .map_err(|_| ProcessorError::TimeZone(cfg.normalize.timezone.clone()))?;
        Ok(Processor {
            timezone,
            keep_original: cfg.normalize.keep_original,
            counters: ProcessorCounters {
                truncated: metrics.counter(
                    "sluice_records_truncated_total",
                    "Records cut at the input's size limit",
                    &[],
                ),
                metrics: metrics.clone(),
            },
        })
    }

    /// Processes every record of a batch. The batch's acknowledgement is not touched.
    pub fn process(&self, batch: &RawBatch) -> ProcessedBatch {
        let mut data = Vec::with_capacity(batch.buf.len() * 3 + 512 * batch.len());
        let mut records = Vec::with_capacity(batch.len());
        let mut doc = Doc::new();
        let ctx = Context::new(batch.received, self.timezone);
        let mut per_type = TypeCounts::default();
        for rec in &batch.records {
            let raw = batch.raw(rec);
            doc.clear();
            let source_type = self.normalize_one(raw, &ctx, &batch.origin, &mut doc);
            if let Some(off) = rec.offset {
                doc.insert("log.offset", off);
            }
            if rec.truncated {
                doc.append_unique("tags", "_sluice_truncated");
                self.counters.truncated.inc();
            }
            per_type.add(&source_type);
            let timestamp = match doc.get("@timestamp") {
                Some(Value::Time(t)) => t.with_timezone(&Utc),
                _ => batch.received,
            };
            let start = data.len();
            doc.write_json(&mut data);
            let end = data.len();
            data.push(b'\n');
            records.push(OutRecord {
                range: start..end,
                source_type,
                timestamp,
            });
        }
        per_type.flush(&self.counters.metrics);
        ProcessedBatch {
            origin: Arc::clone(&batch.origin),
            data,
            records,
        }
    }

    /// Normalizes one record into `doc` and returns its source type.
    fn normalize_one(
        &self,
        raw: &[u8],
        ctx: &Context,
        origin: &crate::event::Origin,
        doc: &mut Doc,
    ) -> SourceType {
        let source_type = origin.source_type.clone().unwrap_or_default();
        normalize_unknown(raw, doc);
        self.common_fields(raw, ctx.received, origin, &source_type, 0.0, doc);
        source_type
    }

    /// Fields every record gets, whatever its type.
    fn common_fields(
        &self,
        raw: &[u8],
        received: DateTime<Utc>,
        origin: &crate::event::Origin,
        source_type: &SourceType,
        confidence: f32,
        doc: &mut Doc,
    ) {
        if !doc.contains("@timestamp") {
            doc.insert("@timestamp", received);
        }
        doc.insert("event.created", received);
        if self.keep_original {
            doc.insert("event.original", String::from_utf8_lossy(raw));
        }
        if !doc.contains("message") {
            doc.insert("message", String::from_utf8_lossy(raw).trim_end());
        }
        doc.insert("ecs.version", ECS_VERSION);
        doc.insert("sluice.input", &*origin.input);
        doc.insert("sluice.source_type", source_type.as_str());
        doc.insert("sluice.confidence", f64::from(confidence));
        if let Some(f) = &origin.file {
            doc.insert("log.file.path", &**f);
        }
        if let Some(p) = origin.peer {
            doc.insert("log.source.address", p.to_string());
        }
    }
}

/// `unknown`: delivered as text, and as parsed JSON under `json` when it is a JSON object.
fn normalize_unknown(raw: &[u8], doc: &mut Doc) {
    doc.insert("event.kind", "event");
    doc.insert("event.module", "unknown");
    doc.insert("event.dataset", "unknown");
    let trimmed = raw.trim_ascii_start();
    if trimmed.first() == Some(&b'{') {
        if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_slice(raw) {
            doc.insert("json", v);
        }
    }
}

/// Per-batch tally of detections, flushed to the shared counters once per batch.
#[derive(Default)]
struct TypeCounts(Vec<(SourceType, u64)>);

impl TypeCounts {
    fn add(&mut self, t: &SourceType) {
        match self.0.iter_mut().find(|(k, _)| k == t) {
            Some((_, n)) => *n += 1,
            None => self.0.push((t.clone(), 1)),
        }
    }

    fn flush(self, metrics: &Metrics) {
        for (t, n) in self.0 {
            metrics
                .counter(
                    "sluice_detected_total",
                    "Records per detected source type",
                    &[("source_type", t.as_str())],
                )
                .add(n);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error("`{0}` is not a time zone")]
    TimeZone(String),
}
