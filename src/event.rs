//! The record as it moves through Sluice, and the batches records travel in.
//!
//! Raw bytes of a whole batch live in one buffer (`RawBatch::buf`) so that reading a thousand lines
//! costs one allocation, not a thousand. After processing, a batch becomes `ProcessedBatch`: the
//! NDJSON of every record in one buffer plus the little per-record metadata outputs need.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::pipeline::ack::AckRef;
use crate::source_type::SourceType;

/// Where a batch came from; shared by all its records.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The input's configured name (`sluice.input`).
    pub input: Arc<str>,
    /// The file path for file inputs (`log.file.path`).
    pub file: Option<Arc<str>>,
    /// The peer for network inputs (`log.source.address`).
    pub peer: Option<SocketAddr>,
    /// Skip detection: the input declared its source type.
    pub source_type: Option<SourceType>,
}

impl Origin {
    pub fn input(name: Arc<str>) -> Self {
        Origin {
            input: name,
            file: None,
            peer: None,
            source_type: None,
        }
    }
}

/// One raw record inside a `RawBatch`.
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// Byte range in `RawBatch::buf`.
    pub range: Range<usize>,
    /// Byte offset of the record in its file (`log.offset`).
    pub offset: Option<u64>,
    /// The record was longer than the input's limit and was cut.
    pub truncated: bool,
    /// What the sender said about the record besides its bytes (Splunk HEC metadata).
    pub meta: Option<Box<RecordMeta>>,
}

/// Per-record context a protocol carries beside the record: Splunk HEC's `time`, `host`,
/// `source`, `sourcetype`, `index` and `fields`. Mapped by the processor after normalization.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordMeta {
    pub time: Option<DateTime<Utc>>,
    pub host: Option<String>,
    pub source: Option<String>,
    pub sourcetype: Option<String>,
    pub index: Option<String>,
    /// Indexed fields: a JSON object.
    pub fields: Option<serde_json::Value>,
    /// The container stream of a CRI log line (`stdout`, `stderr`), kept as `stream`.
    pub stream: Option<&'static str>,
}

impl RecordMeta {
    pub fn is_empty(&self) -> bool {
        *self == RecordMeta::default()
    }
}

/// Records read together by one input, with one acknowledgement for all of them.
#[derive(Debug)]
pub struct RawBatch {
    pub origin: Arc<Origin>,
    pub received: DateTime<Utc>,
    pub buf: Vec<u8>,
    pub records: Vec<RawRecord>,
    pub ack: AckRef,
}

impl RawBatch {
    pub fn new(origin: Arc<Origin>, ack: AckRef) -> Self {
        RawBatch {
            origin,
            received: Utc::now(),
            buf: Vec::new(),
            records: Vec::new(),
            ack,
        }
    }

    /// Appends one record's bytes.
    pub fn push(&mut self, bytes: &[u8], offset: Option<u64>, truncated: bool) {
        let start = self.buf.len();
        self.buf.extend_from_slice(bytes);
        self.records.push(RawRecord {
            range: start..self.buf.len(),
            offset,
            truncated,
            meta: None,
        });
    }

    /// Appends one record's bytes with what its protocol said beside them.
    pub fn push_meta(
        &mut self,
        bytes: &[u8],
        offset: Option<u64>,
        truncated: bool,
        meta: RecordMeta,
    ) {
        self.push(bytes, offset, truncated);
        if let Some(last) = self.records.last_mut() {
            last.meta = (!meta.is_empty()).then(|| Box::new(meta));
        }
    }

    pub fn raw(&self, r: &RawRecord) -> &[u8] {
        self.buf.get(r.range.clone()).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// What outputs need to know about one processed record besides its JSON.
#[derive(Debug, Clone)]
pub struct OutRecord {
    /// The record's NDJSON line in `ProcessedBatch::data`, without the newline.
    pub range: Range<usize>,
    pub source_type: SourceType,
    /// `@timestamp`, for time-based path templates and SIEM event times.
    pub timestamp: DateTime<Utc>,
}

/// A batch after detection and normalization: one buffer of NDJSON, shared by every output it is
/// routed to.
#[derive(Debug)]
pub struct ProcessedBatch {
    pub origin: Arc<Origin>,
    pub data: Vec<u8>,
    pub records: Vec<OutRecord>,
}

impl ProcessedBatch {
    pub fn json(&self, r: &OutRecord) -> &[u8] {
        self.data.get(r.range.clone()).unwrap_or(&[])
    }
}

/// The part of a processed batch sent to one output, with that output's share of the acknowledgement.
#[derive(Debug)]
pub struct OutBatch {
    pub batch: Arc<ProcessedBatch>,
    /// Indices into `batch.records` routed to this output; `None` means all of them.
    pub selection: Option<Vec<u32>>,
    pub ack: AckRef,
}

impl OutBatch {
    /// The records routed to this output, in order.
    pub fn records(&self) -> impl Iterator<Item = &OutRecord> {
        let all = &self.batch.records;
        let sel = self.selection.as_deref();
        let n = sel.map_or(all.len(), <[u32]>::len);
        (0..n).filter_map(move |i| match sel {
            Some(s) => s.get(i).and_then(|&j| all.get(j as usize)),
            None => all.get(i),
        })
    }

    pub fn len(&self) -> usize {
        self.selection
            .as_ref()
            .map_or(self.batch.records.len(), Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
