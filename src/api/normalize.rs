//! `POST /v1/normalize`: records in, ECS documents out, in order, one result per record.
//!
//! The body is read under `max_body_bytes` (and decompressed under it again), split into one
//! `RawBatch`, and run through the running configuration's `Processor`, the same detection and
//! normalization the pipeline uses. The response is assembled from the processor's NDJSON bytes
//! without parsing them again.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{json_response, ApiError, Shared};
use crate::config::ApiNormalizeConfig;
use crate::event::{Origin, RawBatch};
use crate::pipeline::ack::AckRef;
use crate::pipeline::processor::Processor;
use crate::source_type::SourceType;

/// `sluice.input` of documents normalized through the API.
const INPUT_NAME: &str = "api";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// Skip detection: every record is this type.
    source_type: Option<String>,
}

/// How the body is cut into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `{"records": [...]}` or a bare array.
    Json,
    /// One record per line (NDJSON or plain text).
    Lines,
}

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    params: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let settings = shared.settings();
    let limits = settings.limits.clone();
    let processor = shared
        .deps
        .processor
        .get()
        .map(|p| p.get())
        .ok_or_else(|| ApiError::Unavailable("the pipeline is starting; retry shortly".into()))?;
    let format = format(&headers)?;
    let gzip = gzipped(&headers)?;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limits.max_body_bytes as u64 {
            return Err(too_large_body(&limits));
        }
    }
    let bytes = match Limited::new(body, limits.max_body_bytes).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(too_large_body(&limits))
        }
        Err(e) => return Err(ApiError::BadRequest(format!("cannot read the body: {e}"))),
    };
    let source_type = params.source_type.map(|t| SourceType::from_name(&t));
    let permit = Arc::clone(&shared.deps.cpu)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::Unavailable("the API is stopping".into()))?;
    let job = Job {
        processor,
        bytes,
        gzip,
        format,
        source_type,
        limits,
        metrics: shared.deps.metrics.clone(),
    };
    let json = if job.inline() {
        job.run()?
    } else {
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            job.run()
        })
        .await
        .map_err(|e| ApiError::Internal(format!("normalization stopped: {e}")))??
    };
    let mut r = json_response(StatusCode::OK, String::new());
    *r.body_mut() = Body::from(json);
    Ok(r)
}

/// Bodies up to this size (not compressed) are normalized on the async worker that read them.
/// Handing a 100-record body (about 40 KB, 0.6 ms of work) to the blocking pool and the answer
/// back woke two threads per request: the kernel's scheduling took a fifth of Sluice's CPU time
/// under load. A larger body, which may hold up the worker for longer, still goes to the pool.
const INLINE_BYTES: usize = 64 * 1024;

/// One request's normalization, run inline or on the blocking pool.
struct Job {
    processor: Arc<Processor>,
    bytes: axum::body::Bytes,
    gzip: bool,
    format: Format,
    source_type: Option<SourceType>,
    limits: ApiNormalizeConfig,
    metrics: crate::metrics::Metrics,
}

impl Job {
    fn inline(&self) -> bool {
        !self.gzip && self.bytes.len() <= INLINE_BYTES
    }

    fn run(self) -> Result<Vec<u8>, ApiError> {
        let body: Cow<'_, [u8]> = if self.gzip {
            Cow::Owned(gunzip(&self.bytes, self.limits.max_body_bytes)?)
        } else {
            Cow::Borrowed(&self.bytes[..])
        };
        let out = normalize(
            &self.processor,
            &body,
            self.format,
            self.source_type,
            &self.limits,
        )?;
        let labels = |r| [("result", r)];
        self.metrics
            .counter(
                "sluice_api_normalized_records_total",
                "Records answered by /v1/normalize, by result",
                &labels("ok"),
            )
            .add(out.ok);
        self.metrics
            .counter(
                "sluice_api_normalized_records_total",
                "Records answered by /v1/normalize, by result",
                &labels("error"),
            )
            .add(out.failed);
        Ok(out.json)
    }
}

fn too_large_body(limits: &ApiNormalizeConfig) -> ApiError {
    ApiError::TooLarge(format!(
        "the body is larger than api.normalize.max_body_bytes ({} bytes)",
        limits.max_body_bytes
    ))
}

/// The record format from `Content-Type`.
fn format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" => Ok(Format::Json),
        "application/x-ndjson" | "application/ndjson" | "application/jsonl"
        | "application/x-jsonlines" | "text/plain" => Ok(Format::Lines),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type `{ct}` is not supported: send application/json ({{\"records\": [...]}}), application/x-ndjson or text/plain (one record per line)"
        ))),
    }
}

fn gzipped(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(v) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let v = v.to_str().unwrap_or("").trim().to_ascii_lowercase();
    match v.as_str() {
        "" | "identity" => Ok(false),
        "gzip" | "x-gzip" => Ok(true),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding `{other}` is not supported: send gzip or nothing"
        ))),
    }
}

/// Decompresses, refusing output beyond `max` bytes (a small bomb stays small).
fn gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(max));
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(max as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid gzip: {e}")))?;
    if out.len() > max {
        return Err(ApiError::TooLarge(format!(
            "the decompressed body is larger than api.normalize.max_body_bytes ({max} bytes)"
        )));
    }
    Ok(out)
}

/// One input record's place in the answer.
enum Slot {
    /// Processed; `expands` when it was a JSON batch (`{"Records": [...]}`) of this many events.
    Done {
        expands: Option<usize>,
    },
    Error(String),
}

struct Output {
    json: Vec<u8>,
    ok: u64,
    failed: u64,
}

/// A string element of `records`, borrowed from the body when it has no escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonBody<'a> {
    #[serde(borrow)]
    records: Vec<&'a RawValue>,
}

/// The records of the common body, every record a string: `{"records": ["...", ...]}` (no other
/// key) or `["...", ...]`, read in one pass with `crate::json_str`, each string unescaped straight
/// into the batch. `JsonBody` parses each element twice (once to find its end, once to unescape
/// it), and even one pass of serde_json cost 9 instructions a byte.
///
/// `None` for anything else (invalid UTF-8, an element that is not a string, another or a
/// repeated key, bytes after the body, an escape `json_str` leaves to serde_json, malformed
/// JSON), with `c` partly filled: the caller starts again on the general path, which gives the
/// per-element results and the errors. Over `max_records`, the error once the body has been read
/// to its end as that shape (as the general path does).
fn only_strings(body: &[u8], c: &mut Collector) -> Option<Result<(), ApiError>> {
    use crate::json_str::skip_ws;
    let s = std::str::from_utf8(body).ok()?;
    let b = s.as_bytes();
    let mut i = skip_ws(b, 0);
    let object = b.get(i) == Some(&b'{');
    if object {
        i = skip_ws(b, i + 1);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (key, end) = crate::json_str::read(s, i + 1)?;
        if key != "records" {
            return None;
        }
        i = skip_ws(b, end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
    }
    if b.get(i) != Some(&b'[') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut over = None;
    let mut scratch = Vec::new();
    if b.get(i) == Some(&b']') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let end = match (&over, c.room()) {
                (None, Ok(())) => c.string(b, i + 1)?,
                (_, room) => {
                    over = over.or(room.err());
                    scratch.clear();
                    crate::json_str::read_into(b, i + 1, &mut scratch)?
                }
            };
            i = skip_ws(b, end);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b']') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if object {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'}') {
            return None;
        }
        i += 1;
    }
    (skip_ws(b, i) == b.len()).then(|| over.map_or(Ok(()), Err))
}

/// Builds the batch and the answer's slots, enforcing `max_records`.
struct Collector {
    batch: RawBatch,
    slots: Vec<Slot>,
    max_records: usize,
}

impl Collector {
    fn new(limits: &ApiNormalizeConfig, source_type: Option<SourceType>) -> Self {
        let mut origin = Origin::input(Arc::from(INPUT_NAME));
        origin.source_type = source_type;
        Collector {
            batch: RawBatch::new(Arc::new(origin), AckRef::none()),
            slots: Vec::new(),
            max_records: limits.max_records,
        }
    }

    fn room(&self) -> Result<(), ApiError> {
        if self.slots.len() >= self.max_records {
            return Err(ApiError::TooLarge(format!(
                "more than api.normalize.max_records ({}) records",
                self.max_records
            )));
        }
        Ok(())
    }

    fn record(&mut self, raw: &[u8]) -> Result<(), ApiError> {
        self.room()?;
        let start = self.batch.buf.len();
        self.batch.buf.extend_from_slice(raw);
        self.take(start);
        Ok(())
    }

    /// The JSON string whose text starts at `start` in `b` as the next record (`room` checked
    /// by the caller); the index after its closing quote, `None` where `json_str` gives none.
    fn string(&mut self, b: &[u8], start: usize) -> Option<usize> {
        let at = self.batch.buf.len();
        let end = crate::json_str::read_into(b, start, &mut self.batch.buf)?;
        self.take(at);
        Some(end)
    }

    /// The bytes written to the batch since `start` as the next record, or an error slot when
    /// they are blank.
    fn take(&mut self, start: usize) {
        let raw = self.batch.buf.get(start..).unwrap_or_default();
        if raw.trim_ascii().is_empty() {
            self.batch.buf.truncate(start);
            self.slots.push(Slot::Error("empty record".into()));
            return;
        }
        let expands = crate::framing::split_json_batch(raw).map(|e| e.len());
        self.batch.commit(start, None, false);
        self.slots.push(Slot::Done { expands });
    }

    fn error(&mut self, message: String) -> Result<(), ApiError> {
        self.room()?;
        self.slots.push(Slot::Error(message));
        Ok(())
    }
}

fn normalize(
    processor: &Processor,
    body: &[u8],
    format: Format,
    source_type: Option<SourceType>,
    limits: &ApiNormalizeConfig,
) -> Result<Output, ApiError> {
    let mut c = Collector::new(limits, source_type.clone());
    match format {
        Format::Json => {
            // Only strings: one pass. Anything else (an object element, a malformed body) takes
            // the general path below, which gives the per-element results and the errors.
            c.batch.buf.reserve(body.len());
            match only_strings(body, &mut c) {
                Some(Ok(())) => return finish(processor, c),
                Some(Err(e)) => return Err(e),
                None => c = Collector::new(limits, source_type),
            }
            let array = body.trim_ascii_start().starts_with(b"[");
            let elements: Vec<&RawValue> = if array {
                serde_json::from_slice(body)
            } else {
                serde_json::from_slice::<JsonBody>(body).map(|b| b.records)
            }
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "expected a JSON body {{\"records\": [\"raw record\", ...]}}: {e}"
                ))
            })?;
            for el in elements {
                let text = el.get();
                match text.as_bytes().first() {
                    Some(b'"') => {
                        let Text(s) = serde_json::from_str(text)
                            .map_err(|e| ApiError::BadRequest(format!("records: {e}")))?;
                        c.record(s.as_bytes())?;
                    }
                    // A JSON object stands for itself (a CloudTrail event sent as an object).
                    Some(b'{') => c.record(text.as_bytes())?,
                    _ => c.error(format!(
                        "expected a string (or a JSON object), found `{}`",
                        text.chars().take(40).collect::<String>()
                    ))?,
                }
            }
        }
        Format::Lines => {
            let body = body.strip_suffix(b"\n").unwrap_or(body);
            if !body.is_empty() {
                for line in body.split(|b| *b == b'\n') {
                    c.record(line.strip_suffix(b"\r").unwrap_or(line))?;
                }
            }
        }
    }
    finish(processor, c)
}

/// Normalizes the collected batch and builds the answer: one result per slot, in order.
fn finish(processor: &Processor, c: Collector) -> Result<Output, ApiError> {
    let Collector { batch, slots, .. } = c;
    let processed = processor.process(&batch);
    let expected: usize = slots
        .iter()
        .map(|s| match s {
            Slot::Done { expands } => expands.unwrap_or(1),
            Slot::Error(_) => 0,
        })
        .sum();
    if expected != processed.records.len() {
        return Err(ApiError::Internal(format!(
            "expected {expected} documents, the processor made {}",
            processed.records.len()
        )));
    }
    let mut json = Vec::with_capacity(processed.data.len() + 32 * slots.len() + 16);
    json.extend_from_slice(b"{\"results\":[");
    let mut docs = processed.records.iter().map(|r| processed.json(r));
    let (mut ok, mut failed) = (0u64, 0u64);
    for (i, slot) in slots.iter().enumerate() {
        if i > 0 {
            json.push(b',');
        }
        match slot {
            Slot::Done { expands: None } => {
                ok += 1;
                json.extend_from_slice(b"{\"ok\":true,\"event\":");
                json.extend_from_slice(docs.next().unwrap_or(b"null"));
                json.push(b'}');
            }
            Slot::Done { expands: Some(n) } => {
                ok += 1;
                json.extend_from_slice(b"{\"ok\":true,\"events\":[");
                for j in 0..*n {
                    if j > 0 {
                        json.push(b',');
                    }
                    json.extend_from_slice(docs.next().unwrap_or(b"null"));
                }
                json.extend_from_slice(b"]}");
            }
            Slot::Error(e) => {
                failed += 1;
                let e = serde_json::to_string(e).unwrap_or_else(|_| "\"error\"".into());
                json.extend_from_slice(b"{\"ok\":false,\"error\":");
                json.extend_from_slice(e.as_bytes());
                json.push(b'}');
            }
        }
    }
    json.extend_from_slice(b"]}");
    Ok(Output { json, ok, failed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PipelineConfig;
    use crate::metrics::Metrics;

    fn limits(max_records: usize) -> ApiNormalizeConfig {
        ApiNormalizeConfig {
            max_records,
            max_body_bytes: 1 << 20,
        }
    }

    fn run(body: &str, format: Format, max: usize) -> Result<serde_json::Value, ApiError> {
        let p = Processor::new(&PipelineConfig::default(), &Metrics::new()).unwrap();
        let out = normalize(&p, body.as_bytes(), format, None, &limits(max))?;
        Ok(serde_json::from_slice(&out.json).unwrap())
    }

    #[test]
    fn a_body_of_only_strings_gives_what_the_general_path_gives() {
        // Escapes of every kind, an empty record, a JSON batch inside a string, non-ASCII text.
        let strings = [
            r#""<14>Mar  5 10:11:12 fw 1,2026/03/05 10:11:12,0132,TRAFFIC,end,corp\\jdoe""#,
            r#""{\"Records\": [{\"eventVersion\": \"1.08\"}, {\"b\": 2}]}""#,
            r#""""#,
            r#""<13>Jan  1 00:00:00 host app: caf\u00e9 \ud83d\ude00 tab\there \"q\"""#,
        ];
        // Without the receive time, which differs between runs (`@timestamp` too where the
        // record had no time of its own).
        let results = |v: serde_json::Value| -> Vec<serde_json::Value> {
            let mut r = v["results"].as_array().unwrap().clone();
            let drop_created = |e: &mut serde_json::Value| {
                let created = e["event"].as_object_mut().unwrap().remove("created");
                if e.get("@timestamp") == created.as_ref() {
                    e.as_object_mut().unwrap().remove("@timestamp");
                }
            };
            for x in &mut r {
                if let Some(e) = x.get_mut("event") {
                    drop_created(e);
                }
                if let Some(es) = x.get_mut("events").and_then(|e| e.as_array_mut()) {
                    es.iter_mut().for_each(drop_created);
                }
            }
            r
        };
        let list = strings.join(",");
        for (fast, general) in [
            (
                format!(r#"{{"records": [{list}]}}"#),
                format!(r#"{{"records": [{list}, {{"x": 1}}]}}"#),
            ),
            (format!("[{list}]"), format!(r#"[{list}, {{"x": 1}}]"#)),
        ] {
            let fast = results(run(&fast, Format::Json, 10).unwrap());
            let general = results(run(&general, Format::Json, 10).unwrap());
            assert_eq!(fast.len(), strings.len());
            assert_eq!(fast[..], general[..strings.len()]);
        }
        // Limits and bad bodies are the general path's answers.
        assert!(matches!(
            run(&format!("[{list}]"), Format::Json, 3),
            Err(ApiError::TooLarge(_))
        ));
        assert!(matches!(
            run(r#"{"records": ["a"], "x": 1}"#, Format::Json, 10),
            Err(ApiError::BadRequest(_))
        ));
        // Too many records in a body that then turns out malformed: malformed, as serde says.
        assert!(matches!(
            run(&format!("[{list}, 1"), Format::Json, 3),
            Err(ApiError::BadRequest(_))
        ));
    }

    /// The records serde_json reads from `body` as the general path does (a body starting with
    /// `[` as an array, any other as `{"records": [...]}`) when every one is a string.
    fn serde_strings(body: &[u8]) -> Option<Vec<String>> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Records {
            records: Vec<String>,
        }
        if body.trim_ascii_start().starts_with(b"[") {
            serde_json::from_slice::<Vec<String>>(body).ok()
        } else {
            serde_json::from_slice::<Records>(body)
                .ok()
                .map(|r| r.records)
        }
    }

    /// Whenever the fast reader takes `body`, serde_json reads the same strings from it. Whether
    /// it took it.
    /// Blank strings are error slots, not records: they compare as `None`.
    fn agrees(body: &[u8]) -> bool {
        let mut c = Collector::new(&limits(usize::MAX), None);
        let Some(done) = only_strings(body, &mut c) else {
            return false;
        };
        assert!(done.is_ok());
        let mut records = c.batch.records.iter();
        let fast: Vec<Option<String>> = c
            .slots
            .iter()
            .map(|slot| match slot {
                Slot::Done { .. } => records
                    .next()
                    .map(|r| String::from_utf8(c.batch.raw(r).to_vec()).unwrap()),
                Slot::Error(_) => None,
            })
            .collect();
        assert!(records.next().is_none());
        let serde = serde_strings(body).map(|v| {
            v.into_iter()
                .map(|s| (!s.trim_ascii().is_empty()).then_some(s))
                .collect::<Vec<_>>()
        });
        assert_eq!(Some(fast), serde, "{:?}", String::from_utf8_lossy(body));
        true
    }

    /// Generated bodies of both shapes, and every truncation and one-byte change of them: the
    /// fast reader takes exactly the bodies it should and never disagrees with serde_json.
    #[test]
    fn the_fast_reader_declines_or_agrees_with_serde() {
        // Strings the reader takes: every escape kind, \u escapes (control, non-ASCII, upper
        // case), raw non-ASCII, an escape at a chunk boundary, a JSON batch inside a string.
        let taken = [
            r#""""#,
            r#""a""#,
            r#""plain text that runs past one chunk of sixteen bytes""#,
            r#""\"\\\/\b\f\n\r\t""#,
            r#""\u0000\u001F\u007f\u0020""#,
            r#""caf\u00e9 \u4E2D \uFFFF""#,
            "\"é✓😀 raw\"",
            r#""0123456789abcde\n0123456789abcd\"""#,
            r#""{\"Records\": [{\"a\": 1}]}""#,
        ];
        // Elements it leaves to serde_json: surrogates (a pair, a lone half), a raw control
        // character, a bad escape, elements that are not strings.
        let declined = [
            r#""\ud83d\ude00""#,
            r#""\ud83d""#,
            "\"a\u{1}b\"",
            "\"tab\there\"",
            r#""\x""#,
            r#""\u12g4""#,
            "null",
            "1",
            "true",
            "{}",
            r#"{"x": 1}"#,
            "[]",
            r#"["a"]"#,
        ];
        let spaces = ["", "", " ", "\n", "\t", "\r\n", " \t\n\r "];
        let garbage = ["x", ",", "]", "}", "{}", "\0", "\u{c}", "\"a\""];
        let mut rng = crate::testing::XorShift(0x9E37_79B9_7F4A_7C15);
        let mut taken_count = 0;
        for n in 0..400 {
            let mut ws = || spaces[rng.below(spaces.len())];
            let (w1, w2, w3, w4, w5, w6) = (ws(), ws(), ws(), ws(), ws(), ws());
            let mut expect = true;
            let items: Vec<String> = (0..rng.below(5))
                .map(|_| {
                    let s = if rng.below(8) == 0 {
                        expect = false;
                        declined[rng.below(declined.len())]
                    } else {
                        taken[rng.below(taken.len())]
                    };
                    let (a, b) = (spaces[rng.below(spaces.len())], spaces[rng.below(3)]);
                    format!("{a}{s}{b}")
                })
                .collect();
            let array = format!("[{w1}{}{w2}]", items.join(","));
            let mut body = match rng.below(10) {
                0..=3 => format!("{w3}{{{w4}\"records\"{w5}:{w6}{array}{w1}}}{w2}"),
                4..=6 => format!("{w3}{array}{w4}"),
                // The key spelled with an escape is still `records`.
                7 => format!(r#"{w3}{{"rec\u006frds":{array}}}{w4}"#),
                8 => {
                    expect = false;
                    match rng.below(5) {
                        0 => format!(r#"{{"records":{array},"x":1}}"#),
                        1 => format!(r#"{{"x":1,{w3}"records":{array}}}"#),
                        2 => format!(r#"{{"records":{array},"records":[]}}"#),
                        3 => format!(r#"{{"Records":{array}}}"#),
                        _ => "{}".to_owned(),
                    }
                }
                _ => {
                    expect = false;
                    format!("\u{c}{array}")
                }
            };
            if n % 7 == 0 {
                expect = false;
                body.push_str(garbage[rng.below(garbage.len())]);
            }
            assert_eq!(agrees(body.as_bytes()), expect, "{body:?}");
            taken_count += usize::from(expect);
            let noise = [
                b'"', b'\\', b',', b':', b'[', b']', b'{', b'}', b' ', b'u', b'0', 1, 0xC3, 0xFF,
            ];
            let bytes = body.as_bytes();
            for cut in 0..bytes.len() {
                agrees(&bytes[..cut]);
                let mut m = bytes.to_vec();
                m[cut] = noise[rng.below(noise.len())];
                agrees(&m);
            }
        }
        assert!(taken_count > 100, "{taken_count}");
    }

    #[test]
    fn one_result_per_record_in_order() {
        let v = run(
            r#"{"records": ["a", "", {"x": 1}, null, "{\"Records\": [{\"a\": 1}, {\"b\": 2}]}"]}"#,
            Format::Json,
            10,
        )
        .unwrap();
        let r = v["results"].as_array().unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(r[0]["event"]["message"], "a");
        assert_eq!(r[1]["error"], "empty record");
        assert_eq!(r[2]["event"]["json"]["x"], 1);
        assert_eq!(r[3]["ok"], false);
        assert_eq!(r[4]["events"].as_array().unwrap().len(), 2);
        let v = run("a\r\n\nb\n", Format::Lines, 10).unwrap();
        let r = v["results"].as_array().unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0]["event"]["message"], "a");
        assert_eq!(r[1]["ok"], false);
        assert_eq!(r[2]["event"]["message"], "b");
        assert_eq!(
            run("", Format::Lines, 10).unwrap()["results"],
            serde_json::json!([])
        );
    }

    #[test]
    fn limits_and_malformed_bodies() {
        assert!(matches!(
            run("a\nb\nc\n", Format::Lines, 2),
            Err(ApiError::TooLarge(_))
        ));
        assert!(matches!(
            run(r#"{"records": [1, 2, 3]}"#, Format::Json, 2),
            Err(ApiError::TooLarge(_))
        ));
        assert!(matches!(
            run(r#"{"records": "a"}"#, Format::Json, 2),
            Err(ApiError::BadRequest(_))
        ));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &[b'x'; 5000]).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(gunzip(&gz, 5000).unwrap().len(), 5000);
        assert!(matches!(gunzip(&gz, 4999), Err(ApiError::TooLarge(_))));
        assert!(matches!(gunzip(b"nope", 10), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn content_type_and_encoding() {
        let h = |k: header::HeaderName, v: &str| {
            let mut m = HeaderMap::new();
            m.insert(k, v.parse().unwrap());
            m
        };
        assert_eq!(
            format(&h(header::CONTENT_TYPE, "application/json; charset=utf-8")).unwrap(),
            Format::Json
        );
        assert_eq!(
            format(&h(header::CONTENT_TYPE, "Application/X-NDJSON")).unwrap(),
            Format::Lines
        );
        assert!(format(&HeaderMap::new()).is_err());
        assert!(gzipped(&h(header::CONTENT_ENCODING, "gzip")).unwrap());
        assert!(!gzipped(&HeaderMap::new()).unwrap());
        assert!(gzipped(&h(header::CONTENT_ENCODING, "br")).is_err());
    }
}
