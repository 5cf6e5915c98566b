//! The CPU stage: turns a raw batch into a processed batch of ECS NDJSON.
//!
//! Runs on the processor threads. One `Doc` and one output buffer are reused for every record of a
//! batch, so the per-record cost is the fields themselves, not the scaffolding. A batch is detected
//! whole, then processed one source type at a time (see `process_with`); records keep their order.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::PipelineConfig;
use crate::detect::{Detection, Detector};
use crate::doc::{lit, Doc, Value};
use crate::event::{BufferPool, KeyInterner, OutRecord, ProcessedBatch, RawBatch};
use crate::metrics::{Counter, Metrics};
use crate::normalize::windows::WindowsNormalizer;
use crate::normalize::{cloudtrail, panos::PanosNormalizer, syslog, Context, ParseFailure};
use crate::parse::panos::PanosSchema;
use crate::source_type::SourceType;

/// The ECS version Sluice writes.
pub const ECS_VERSION: &str = "8.17.0";

/// Detection and normalization settings, rebuilt on reload and shared read-only by all threads.
pub struct Processor {
    timezone: Tz,
    keep_original: bool,
    min_confidence: f32,
    detector: Detector,
    panos: PanosNormalizer,
    windows: WindowsNormalizer,
    enrich: crate::enrich::Enrichers,
    counters: ProcessorCounters,
    /// Documents (with their serialization plans) reused across batches, one per thread at work.
    docs: Mutex<Vec<Doc>>,
    /// Output buffers of batches already written, for the next batches' JSON.
    buffers: Arc<BufferPool>,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("timezone", &self.timezone)
            .field("keep_original", &self.keep_original)
            .field("min_confidence", &self.min_confidence)
            .finish_non_exhaustive()
    }
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
        let detector = match &cfg.detect.rules_dir {
            Some(dir) => Detector::from_dir(dir),
            None => Detector::builtin(),
        }
        .map_err(|e| ProcessorError::Data(e.to_string()))?;
        let parsers = cfg.parsers_dir.as_deref();
        let mut schema = PanosSchema::builtin().map_err(|e| ProcessorError::Data(e.to_string()))?;
        if let Some(dir) = parsers.map(|d| d.join("panos")).filter(|d| d.is_dir()) {
            let overrides =
                PanosSchema::from_dir(&dir).map_err(|e| ProcessorError::Data(e.to_string()))?;
            schema = schema.with_overrides(overrides);
        }
        let windows = match parsers.map(|d| d.join("windows")).filter(|d| d.is_dir()) {
            Some(dir) => WindowsNormalizer::from_dir(&dir),
            None => WindowsNormalizer::builtin(),
        }
        .map_err(|e| ProcessorError::Data(e.to_string()))?;
        let enrich = crate::enrich::Enrichers::new(&cfg.enrich, metrics)
            .map_err(|e| ProcessorError::Data(format!("pipeline.enrich: {e}")))?;
        Ok(Processor {
            timezone,
            keep_original: cfg.normalize.keep_original,
            min_confidence: cfg.detect.min_confidence,
            detector,
            panos: PanosNormalizer::new(schema),
            windows,
            enrich,
            counters: ProcessorCounters {
                truncated: metrics.counter(
                    "sluice_records_truncated_total",
                    "Records cut at the input's size limit",
                    &[],
                ),
                metrics: metrics.clone(),
            },
            docs: Mutex::new(Vec::new()),
            buffers: Arc::default(),
        })
    }

    /// Processes every record of a batch. The batch's acknowledgement is not touched.
    pub fn process(&self, batch: &RawBatch) -> ProcessedBatch {
        self.process_with(batch, &mut |_, _, _| {})
    }

    /// `process`, calling `on_record` with each record's index in the batch's output, its
    /// document while it is still alive, and its source type (the router decides where each
    /// record goes from them).
    ///
    /// Records are detected first, all of them, then normalized, enriched and written one source
    /// type after another, each type's records in their order. A mixed batch went through all
    /// four normalizers' code record by record, more than the instruction cache holds (callgrind:
    /// 850 instruction-cache misses a W1 record); grouped, each type's code stays warm for its
    /// run. `records` stay in input order; their JSON in `data` is in the order it was written.
    pub fn process_with(
        &self,
        batch: &RawBatch,
        on_record: &mut dyn FnMut(usize, &Doc, &SourceType),
    ) -> ProcessedBatch {
        let mut items = Vec::with_capacity(batch.len());
        for rec in &batch.records {
            let raw = batch.raw(rec);
            let item = |raw| Item {
                raw,
                rec,
                detection: self.detect(raw, batch),
            };
            // A JSON batch (`{"Records": [...]}`) is one record per element.
            match crate::framing::split_json_batch(raw) {
                Some(elements) => items.extend(elements.iter().map(|e| item(e.get().as_bytes()))),
                None => items.push(item(raw)),
            }
        }
        let order = grouped_order(&items);
        let mut data = self.buffers.take(batch.buf.len() * 3 + 512 * items.len());
        let mut written = Vec::with_capacity(items.len());
        let mut doc = self.take_doc();
        let ctx = Context::new(batch.received, self.timezone);
        let mut tally = Tally::default();
        let mut keys = KeyInterner::default();
        let mut enrich = self.enrich.batch();
        for &i in &order {
            let Some(item) = items.get(i as usize) else {
                continue;
            };
            let one = self.record(
                item.raw,
                &item.detection,
                &ctx,
                batch,
                item.rec,
                &mut doc,
                &mut tally,
            );
            enrich.apply(&mut doc);
            on_record(i as usize, &doc, &one);
            push_record(
                &mut data,
                &mut written,
                &doc,
                one,
                batch.received,
                &mut keys,
            );
        }
        tally.flush(&self.counters.metrics);
        self.return_doc(doc);
        ProcessedBatch::pooled(
            Arc::clone(&batch.origin),
            data,
            in_input_order(written, &order),
            &self.buffers,
        )
    }

    /// A document whose serialization plans are warm from earlier batches.
    fn take_doc(&self) -> Doc {
        let pooled = match self.docs.lock() {
            Ok(mut d) => d.pop(),
            Err(p) => p.into_inner().pop(),
        };
        pooled.unwrap_or_default()
    }

    fn return_doc(&self, mut doc: Doc) {
        doc.clear();
        let mut docs = match self.docs.lock() {
            Ok(d) => d,
            Err(p) => p.into_inner(),
        };
        // Bounded: a few warm documents cover the processor threads; API requests beyond that
        // use a fresh one (each holds up to `plan::SLOTS` plans).
        if docs.len() < 4 {
            docs.push(doc);
        }
    }

    /// The input's fixed type, or the detector's verdict floored at `min_confidence`.
    pub fn detect(&self, raw: &[u8], batch: &RawBatch) -> Detection {
        match &batch.origin.source_type {
            Some(t) => Detection::fixed(t.clone()),
            None => self.detector.detect(raw).at_least(self.min_confidence),
        }
    }

    /// Normalizes one record into `doc` (common fields included) and returns its source type.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        raw: &[u8],
        detection: &Detection,
        ctx: &Context,
        batch: &RawBatch,
        rec: &crate::event::RawRecord,
        doc: &mut Doc,
        tally: &mut Tally,
    ) -> SourceType {
        doc.clear();
        let mut source_type = detection.source_type.clone();
        // The record as text, checked once: `event.original`, and the syslog parser's fields.
        let text = crate::doc::lossy(raw);
        let valid = match &text {
            std::borrow::Cow::Borrowed(t) => Some(*t),
            std::borrow::Cow::Owned(_) => None,
        };
        // Parsers never panic on purpose; if one does, the record still goes out, as unknown.
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.normalize_typed(raw, valid, detection, ctx, doc)
        }));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(f)) => Some(f),
            Err(_) => {
                doc.clear();
                source_type = SourceType::Unknown;
                normalize_unknown(raw, doc);
                Some(ParseFailure::new(
                    "internal error: the parser panicked on this record",
                ))
            }
        };
        // `message` is the source's human-readable text (NORMALIZATION.md); the raw record stands
        // in only where nothing was parsed or parsing failed, so no text is ever hidden.
        let text_fallback =
            failure.is_some() || matches!(source_type, SourceType::Unknown | SourceType::Other(_));
        if let Some(f) = failure {
            doc.append_unique("tags", "_sluice_parse_failure");
            doc.insert("error.message", f.0);
            tally.add("failure", &source_type);
        }
        if let Some(off) = rec.offset {
            doc.insert("log.offset", off);
        }
        if let Some(meta) = &rec.meta {
            apply_meta(meta, doc);
        }
        if rec.truncated {
            doc.append_unique("tags", "_sluice_truncated");
            self.counters.truncated.inc();
        }
        self.common_fields(
            &text,
            ctx.received,
            &batch.origin,
            &source_type,
            detection.confidence,
            text_fallback,
            doc,
        );
        tally.add("detected", &source_type);
        source_type
    }

    /// The source type's own mapping; a syslog envelope is mapped first, then its payload.
    fn normalize_typed(
        &self,
        raw: &[u8],
        valid: Option<&str>,
        d: &Detection,
        ctx: &Context,
        doc: &mut Doc,
    ) -> Result<(), ParseFailure> {
        match (&d.source_type, d.syslog_payload) {
            (SourceType::Syslog, _) => syslog::normalize_line(raw, valid, ctx, doc),
            (SourceType::Unknown, _) => {
                normalize_unknown(raw, doc);
                Ok(())
            }
            (t, Some(offset)) => {
                let payload = raw.get(offset..).unwrap_or(raw);
                // The header's fields, unless the syslog parser read part of the payload as a
                // host or tag (PAN-OS often sends no host, or only an address).
                if let Ok(s) = crate::parse::syslog::parse_line(raw, valid) {
                    let msg_start = (s.msg.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
                    if msg_start <= offset {
                        syslog::apply_header(&s, ctx, doc);
                    }
                }
                self.normalize_payload(t, payload, ctx, doc)
            }
            (t, None) => self.normalize_payload(t, raw, ctx, doc),
        }
    }

    fn normalize_payload(
        &self,
        t: &SourceType,
        raw: &[u8],
        ctx: &Context,
        doc: &mut Doc,
    ) -> Result<(), ParseFailure> {
        match t {
            SourceType::Panos => self.panos.normalize(raw, ctx, doc),
            SourceType::Windows => self.windows.normalize(raw, ctx, doc),
            SourceType::Cloudtrail => cloudtrail::normalize(raw, ctx, doc),
            SourceType::Syslog => syslog::normalize(raw, ctx, doc),
            SourceType::Unknown => {
                normalize_unknown(raw, doc);
                Ok(())
            }
            SourceType::Other(name) => {
                // A type known only from a detection rule: labelled, text and JSON kept.
                normalize_unknown(raw, doc);
                doc.insert("event.module", &**name);
                doc.insert("event.dataset", &**name);
                Ok(())
            }
        }
    }

    /// Fields every record gets, whatever its type.
    #[allow(clippy::too_many_arguments)]
    fn common_fields(
        &self,
        text: &str,
        received: DateTime<Utc>,
        origin: &crate::event::Origin,
        source_type: &SourceType,
        confidence: f32,
        text_fallback: bool,
        doc: &mut Doc,
    ) {
        if !doc.contains("@timestamp") {
            doc.insert("@timestamp", received);
        }
        doc.insert("event.created", received);
        if self.keep_original {
            doc.insert_reusing("event.original", text);
        }
        if text_fallback && !doc.contains("message") {
            doc.insert("message", text.trim_end());
        }
        doc.insert("ecs.version", lit!(ECS_VERSION));
        doc.insert("sluice.input", &*origin.input);
        doc.insert("sluice.source_type", source_type.as_str());
        // The f32 score as its shortest decimal (0.9, not 0.8999999761581421).
        doc.insert(
            "sluice.confidence",
            (f64::from(confidence) * 1e6).round() / 1e6,
        );
        if let Some(f) = &origin.file {
            doc.insert("log.file.path", &**f);
        }
        if let Some(p) = origin.peer {
            doc.insert("log.source.address", p.to_string());
        }
    }
}

/// What the sender said beside the record (Splunk HEC, the CRI container log format, Kafka): its
/// `time` and `host` fill `@timestamp` and `host.name` when the record itself had none; the rest is
/// kept under `splunk.*` and `kafka.*`, and a container stream as `stream`.
fn apply_meta(meta: &crate::event::RecordMeta, doc: &mut Doc) {
    if let Some(t) = meta.time {
        if !doc.contains("@timestamp") {
            doc.insert("@timestamp", t);
        }
    }
    if let Some(h) = &meta.host {
        if !doc.contains("host.name") {
            doc.insert("host.name", h.as_str());
        }
        doc.add_related(crate::doc::Related::Hosts, h);
    }
    doc.insert_opt("splunk.source", meta.source.as_deref());
    doc.insert_opt("splunk.sourcetype", meta.sourcetype.as_deref());
    doc.insert_opt("splunk.index", meta.index.as_deref());
    if let Some(f) = &meta.fields {
        doc.insert("splunk.fields", f.clone());
    }
    doc.insert_opt("stream", meta.stream);
    if let Some(k) = &meta.kafka {
        doc.insert("kafka.topic", &*k.topic);
        doc.insert("kafka.partition", i64::from(k.partition));
        doc.insert("kafka.offset", k.offset);
        doc.insert_opt("kafka.key", k.key.as_deref());
    }
}

/// `unknown`: delivered as text, and as parsed JSON under `json` when it is a JSON object.
fn normalize_unknown(raw: &[u8], doc: &mut Doc) {
    doc.insert("event.kind", lit!("event"));
    doc.insert("event.module", lit!("unknown"));
    doc.insert("event.dataset", lit!("unknown"));
    let trimmed = raw.trim_ascii_start();
    if trimmed.first() == Some(&b'{') {
        if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_slice(raw) {
            doc.insert("json", v);
        }
    }
}

/// A record of a batch, detected, waiting for its type's turn.
struct Item<'a> {
    raw: &'a [u8],
    rec: &'a crate::event::RawRecord,
    detection: Detection,
}

/// Indices of `items` grouped by source type (a stable counting sort: each type's records keep
/// their order).
fn grouped_order(items: &[Item<'_>]) -> Vec<u32> {
    const GROUPS: usize = 6;
    let group = |t: &SourceType| match t {
        SourceType::Syslog => 0,
        SourceType::Panos => 1,
        SourceType::Cloudtrail => 2,
        SourceType::Windows => 3,
        SourceType::Unknown => 4,
        SourceType::Other(_) => 5,
    };
    let mut starts = [0usize; GROUPS + 1];
    for it in items {
        starts[group(&it.detection.source_type) + 1] += 1;
    }
    for g in 0..GROUPS {
        starts[g + 1] += starts[g];
    }
    let mut order = vec![0u32; items.len()];
    for (i, it) in items.iter().enumerate() {
        let g = group(&it.detection.source_type);
        if let Some(slot) = order.get_mut(starts[g]) {
            *slot = i as u32;
        }
        starts[g] += 1;
    }
    order
}

/// The records as written (in `order`) put back in input order.
fn in_input_order(written: Vec<OutRecord>, order: &[u32]) -> Vec<OutRecord> {
    if order.iter().enumerate().all(|(i, &j)| i as u32 == j) {
        return written;
    }
    let mut placed: Vec<(u32, OutRecord)> = order.iter().copied().zip(written).collect();
    placed.sort_unstable_by_key(|(i, _)| *i);
    placed.into_iter().map(|(_, r)| r).collect()
}

/// Appends one processed record's JSON line.
fn push_record(
    data: &mut Vec<u8>,
    records: &mut Vec<OutRecord>,
    doc: &Doc,
    source_type: SourceType,
    received: DateTime<Utc>,
    keys: &mut KeyInterner,
) {
    let start = data.len();
    let [ts, name, hostname, dataset, log_type] = doc.write_json_get(
        data,
        &[
            "@timestamp",
            "host.name",
            "host.hostname",
            "event.dataset",
            "panw.panos.type",
        ],
    );
    let end = data.len();
    let timestamp = match ts {
        Some(Value::Time(t)) => t.with_timezone(&Utc),
        _ => received,
    };
    data.push(b'\n');
    records.push(OutRecord {
        range: start..end,
        source_type,
        timestamp,
        keys: keys.keys([name, hostname, dataset, log_type]),
    });
}

/// Per-batch counts of detections and parse failures, flushed to the shared counters once per
/// batch so the hot loop touches no shared state.
#[derive(Default)]
struct Tally(Vec<(&'static str, SourceType, u64)>);

impl Tally {
    fn add(&mut self, what: &'static str, t: &SourceType) {
        match self.0.iter_mut().find(|(w, k, _)| *w == what && k == t) {
            Some((_, _, n)) => *n += 1,
            None => self.0.push((what, t.clone(), 1)),
        }
    }

    fn flush(self, metrics: &Metrics) {
        for (what, t, n) in self.0 {
            let (name, help) = match what {
                "failure" => (
                    "sluice_parse_failures_total",
                    "Detected records that could not be fully parsed, per source type",
                ),
                _ => ("sluice_detected_total", "Records per detected source type"),
            };
            metrics
                .counter(name, help, &[("source_type", t.as_str())])
                .add(n);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error("`{0}` is not a time zone")]
    TimeZone(String),
    #[error("{0}")]
    Data(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Origin;
    use crate::pipeline::ack::AckRef;

    fn run(lines: &[&str]) -> Vec<serde_json::Value> {
        let p = Processor::new(&PipelineConfig::default(), &Metrics::new()).unwrap();
        let mut batch = RawBatch::new(Arc::new(Origin::input("t".into())), AckRef::none());
        for l in lines {
            batch.push(l.as_bytes(), None, false);
        }
        let out = p.process(&batch);
        out.records
            .iter()
            .map(|r| serde_json::from_slice(out.json(r)).unwrap())
            .collect()
    }

    #[test]
    fn a_batch_is_written_into_the_buffer_of_one_already_dropped() {
        let p = Processor::new(&PipelineConfig::default(), &Metrics::new()).unwrap();
        let mut batch = RawBatch::new(Arc::new(Origin::input("t".into())), AckRef::none());
        batch.push(
            b"Mar  3 07:01:02 web01 sshd[7]: Accepted password for u from 10.1.2.3 port 5022 ssh2",
            None,
            false,
        );
        let first = p.process(&batch);
        let json = first.data.clone();
        assert!(p.buffers.is_empty());
        drop(first);
        assert_eq!(p.buffers.len(), 1);
        let second = p.process(&batch);
        assert!(
            p.buffers.is_empty(),
            "the second batch took the first one's buffer"
        );
        let strip = |d: &[u8]| {
            let v: serde_json::Value = serde_json::from_slice(d.trim_ascii_end()).unwrap();
            v["message"].clone()
        };
        assert_eq!(strip(&second.data), strip(&json));
        assert_eq!(second.data.len(), json.len());
    }

    #[test]
    fn a_mixed_batch_is_processed_by_type_and_comes_out_in_input_order() {
        let syslog = |n: usize| {
            format!("Mar  3 07:01:02 web01 sshd[{n}]: Accepted password for u{n} from 10.1.2.3 port 5022 ssh2")
        };
        let panos = |n: usize| {
            format!("1,2024/02/03 10:11:12,012345678901,TRAFFIC,end,2561,2024/02/03 10:11:12,10.0.0.5,198.51.100.7,0.0.0.0,0.0.0.0,allow,,,ssl,vsys1,trust,untrust,e1/2,e1/1,fwd,2024/02/03 10:11:12,{n},1,51515,443,0,0,0x0,tcp,allow,5000")
        };
        let unknown = |n: usize| format!("nothing anyone knows {n}");
        let ct = |n: usize| {
            format!(
                r#"{{"eventVersion":"1.08","eventTime":"2024-02-03T10:11:12Z","eventSource":"s3.amazonaws.com","eventName":"GetObject{n}","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userIdentity":{{"type":"IAMUser"}}}}"#
            )
        };
        // Types interleaved, and a CloudTrail file (two records from one line) in the middle.
        let mut lines = Vec::new();
        let mut want = Vec::new();
        for n in 0..12 {
            let (line, t) = match n % 4 {
                0 => (syslog(n), "syslog"),
                1 => (panos(n), "panos"),
                2 => (unknown(n), "unknown"),
                _ => (ct(n), "cloudtrail"),
            };
            want.push((line.clone(), t));
            lines.push(line);
            if n == 5 {
                let (a, b) = (ct(100), ct(101));
                lines.push(format!(r#"{{"Records":[{a},{b}]}}"#));
                want.push((a, "cloudtrail"));
                want.push((b, "cloudtrail"));
            }
        }
        let p = Processor::new(&PipelineConfig::default(), &Metrics::new()).unwrap();
        let mut batch = RawBatch::new(Arc::new(Origin::input("t".into())), AckRef::none());
        for l in &lines {
            batch.push(l.as_bytes(), None, false);
        }
        let mut seen = Vec::new();
        let out = p.process_with(&batch, &mut |i, doc, st| {
            seen.push((
                i,
                doc.get_str("event.original").unwrap_or("").to_owned(),
                st.clone(),
            ));
        });
        // Processed grouped: not in input order ...
        let firsts: Vec<usize> = seen.iter().map(|(i, ..)| *i).collect();
        assert_ne!(firsts, (0..want.len()).collect::<Vec<_>>());
        // ... each index once, with that record's document and type.
        seen.sort_by_key(|(i, ..)| *i);
        assert_eq!(seen.len(), want.len());
        for (k, ((i, original, st), (line, t))) in seen.iter().zip(&want).enumerate() {
            assert_eq!((*i, original.as_str(), st.as_str()), (k, line.as_str(), *t));
        }
        // The records, and each one's JSON, in input order.
        assert_eq!(out.records.len(), want.len());
        for (r, (line, t)) in out.records.iter().zip(&want) {
            let doc: serde_json::Value = serde_json::from_slice(out.json(r)).unwrap();
            assert_eq!(doc["event"]["original"], line.as_str());
            assert_eq!(doc["sluice"]["source_type"], *t);
            assert_eq!(r.source_type.as_str(), *t);
        }
    }

    #[test]
    fn message_is_the_sources_text_or_the_raw_record_when_nothing_was_parsed() {
        let docs = run(&[
            "Mar  3 07:01:02 web01 sshd[42]: Accepted password for alice from 10.1.2.3 port 5022 ssh2",
            "1,2024/02/03 10:11:12,012345678901,TRAFFIC,end,2561,2024/02/03 10:11:12,10.0.0.5,198.51.100.7,0.0.0.0,0.0.0.0,allow,,,ssl,vsys1,trust,untrust,e1/2,e1/1,fwd,2024/02/03 10:11:12,1,1,51515,443,0,0,0x0,tcp,allow,5000",
            "1,2024/02/03 10:11:12,012345678901,TRAFFIC,end,2561,x",
            "nothing anyone knows",
        ]);
        assert_eq!(
            docs[0]["message"],
            "Accepted password for alice from 10.1.2.3 port 5022 ssh2"
        );
        assert_eq!(docs[1]["sluice"]["source_type"], "panos");
        assert!(docs[1].get("message").is_none(), "{}", docs[1]);
        assert!(docs[1]["event"]["original"]
            .as_str()
            .unwrap()
            .starts_with("1,2024"));
        // Detected but cut short: the text stays visible next to the failure.
        assert_eq!(docs[2]["tags"][0], "_sluice_parse_failure");
        assert_eq!(
            docs[2]["message"],
            "1,2024/02/03 10:11:12,012345678901,TRAFFIC,end,2561,x"
        );
        assert_eq!(docs[3]["sluice"]["source_type"], "unknown");
        assert_eq!(docs[3]["message"], "nothing anyone knows");
    }
}
